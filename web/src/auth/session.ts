// Who is signed in. In standalone mode a demo-account picker signs in
// through /auth/dev-login; in the cloud, an OIDC provider (authorization
// code with PKCE, via oidc-client-ts) issues the access token the API's
// JWT authorizer checks. Either way the token is kept for the tab's
// lifetime and dropped on a 401.

import { reactive } from 'vue'
import { UserManager, WebStorageStateStore } from 'oidc-client-ts'
import { get, onSignedOut, post, setToken } from '../api/client'
import type { DemoAccount, MeView, Role } from '../api/types'
import { config } from '../config'

const KEY = 'subsidy.token'

export const session = reactive<{ token: string | null; me: MeView | null }>({ token: null, me: null })

let manager: UserManager | null = null
function oidc(): UserManager {
  if (config.auth.mode !== 'oidc') throw new Error('OIDC is not configured')
  if (!manager) {
    const base = `${location.origin}${location.pathname}`
    manager = new UserManager({
      authority: config.auth.authority,
      client_id: config.auth.clientId,
      redirect_uri: config.auth.redirectUri ?? base,
      post_logout_redirect_uri: base,
      response_type: 'code',
      response_mode: 'query',
      scope: config.auth.scope ?? 'openid profile',
      userStore: new WebStorageStateStore({ store: sessionStorage }),
    })
  }
  return manager
}

function adopt(token: string | null): void {
  session.token = token
  setToken(token)
  if (token) sessionStorage.setItem(KEY, token)
  else sessionStorage.removeItem(KEY)
}

/** Restores the tab's session, finishing an OIDC redirect if there is one. */
export async function restore(): Promise<void> {
  onSignedOut(() => {
    adopt(null)
    session.me = null
    location.hash = '#/login?expired=1'
  })
  const params = new URLSearchParams(location.search)
  if (config.auth.mode === 'oidc' && params.has('code') && params.has('state')) {
    const user = await oidc().signinRedirectCallback()
    history.replaceState(null, '', `${location.pathname}${location.hash || '#/'}`)
    adopt(user.access_token)
  } else {
    adopt(sessionStorage.getItem(KEY))
  }
  if (session.token) {
    try {
      session.me = await get<MeView>('/me')
    } catch {
      adopt(null)
    }
  }
}

export async function devAccounts(): Promise<DemoAccount[]> {
  return get<DemoAccount[]>('/auth/dev-accounts')
}

export async function devLogin(username: string): Promise<void> {
  const out = await post<{ token: string }>('/auth/dev-login', { username })
  adopt(out.token)
  session.me = await get<MeView>('/me')
}

export async function oidcLogin(): Promise<void> {
  await oidc().signinRedirect()
}

export async function refreshMe(): Promise<void> {
  session.me = await get<MeView>('/me')
}

export async function logout(): Promise<void> {
  adopt(null)
  session.me = null
  if (config.auth.mode === 'oidc') await oidc().removeUser()
}

export const STAFF: Role[] = ['community', 'subdistrict', 'district', 'finance', 'city']
export const REVIEWERS: Role[] = ['community', 'subdistrict', 'district']

/** Where a role starts. */
export function homeOf(role: Role | undefined): string {
  switch (role) {
    case 'company':
      return '/company/applications'
    case 'project_manager':
      return '/manager/inbox'
    case 'community':
    case 'subdistrict':
    case 'district':
      return '/review/inbox'
    case 'finance':
      return '/finance'
    case 'city':
      return '/dashboard'
    default:
      return '/login'
  }
}
