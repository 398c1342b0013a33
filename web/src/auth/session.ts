// Who is signed in. In standalone mode a demo-account picker signs in
// through /auth/dev-login; in the cloud, an OIDC provider (authorization
// code with PKCE, via oidc-client-ts) issues the access token the API's
// JWT authorizer checks. Either way the token is kept for the tab's
// lifetime and dropped on a 401. The token only identifies: what a staff
// member may do comes from the staff directory, which may refuse them
// (disabled, or no longer holding the assignment they act with); the login
// page then says why.

import { reactive } from 'vue'
import { UserManager, WebStorageStateStore } from 'oidc-client-ts'
import { ACCOUNT_REFUSALS, ApiError, get, onRefused, onSignedOut, post, request, setActingAs, setToken } from '../api/client'
import type { AssignmentView, DemoAccount, MeView, Role } from '../api/types'
import { config } from '../config'
import { switchPersona, type Persona } from '../lib/persona'

const KEY = 'subsidy.token'
const ACTING = 'subsidy.actingAs'

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

/**
 * Which assignment acts (`role:unit`), or for someone outside the
 * directory `company` or `project_manager`; kept for the tab. Null: a
 * member's first assignment; anyone else as their token says (a company,
 * unless it claims `role: project_manager`).
 */
function actAs(a: string | null): void {
  setActingAs(a)
  if (a) sessionStorage.setItem(ACTING, a)
  else sessionStorage.removeItem(ACTING)
}
const isRefusal = (e: unknown): e is ApiError => e instanceof ApiError && ACCOUNT_REFUSALS.includes(e.code)

/** Signs out a member the directory refused, and shows the login page saying why. */
function turnAway(code: string): void {
  adopt(null)
  actAs(null)
  session.me = null
  location.hash = `#/login?refused=${code}`
}

/** Reads /me as a company or a manager; `own`: a 401 is the caller's to read (see lib/persona). */
const meAs = async (p: Persona, own: boolean) =>
  (await request('GET', '/me', { actingAs: p, keepSessionOn401: own })).json() as Promise<MeView>

/**
 * /me, acting as the first assignment again if the chosen one was taken
 * away, and as a company if the server no longer takes the user as a
 * project manager (a new sign-in in the tab, without a verified phone).
 */
async function loadMe(): Promise<MeView> {
  if (sessionStorage.getItem(ACTING) === 'project_manager') {
    const out = await switchPersona('project_manager', meAs)
    actAs(out.acting)
    return out.me
  }
  try {
    return await get<MeView>('/me')
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 'not_assigned' && sessionStorage.getItem(ACTING))) throw e
    actAs(null)
    return get<MeView>('/me')
  }
}

/** Restores the tab's session, finishing an OIDC redirect if there is one. */
export async function restore(): Promise<void> {
  onSignedOut(() => {
    adopt(null)
    session.me = null
    location.hash = '#/login?expired=1'
  })
  // Disabled (or the assignment acted with removed) while signed in: a
  // disabled member is out; one whose assignment was taken away starts
  // again, acting with their first.
  onRefused((code) => {
    if (!session.me) return
    if (code === 'not_assigned' && sessionStorage.getItem(ACTING)) {
      actAs(null)
      location.reload()
      return
    }
    turnAway(code)
  })
  const params = new URLSearchParams(location.search)
  if (config.auth.mode === 'oidc' && params.has('code') && params.has('state')) {
    const user = await oidc().signinRedirectCallback()
    history.replaceState(null, '', `${location.pathname}${location.hash || '#/'}`)
    adopt(user.access_token)
  } else {
    adopt(sessionStorage.getItem(KEY))
  }
  actAs(session.token ? sessionStorage.getItem(ACTING) : null)
  if (session.token) {
    try {
      session.me = await loadMe()
    } catch (e) {
      adopt(null)
      actAs(null)
      if (isRefusal(e)) location.hash = `#/login?refused=${e.code}`
    }
  }
}

export async function devAccounts(): Promise<DemoAccount[]> {
  return get<DemoAccount[]>('/auth/dev-accounts')
}

/** Signs in as a demo account; throws (signed out) if the directory refuses it. */
export async function devLogin(username: string): Promise<void> {
  session.me = null
  actAs(null)
  const out = await post<{ token: string }>('/auth/dev-login', { username })
  adopt(out.token)
  try {
    session.me = await get<MeView>('/me')
  } catch (e) {
    adopt(null)
    throw e
  }
}

export async function oidcLogin(): Promise<void> {
  await oidc().signinRedirect()
}

export async function refreshMe(): Promise<void> {
  session.me = await get<MeView>('/me')
}

/** Acts with another of the staff member's assignments from now on. */
export async function actWith(a: AssignmentView): Promise<void> {
  const before = sessionStorage.getItem(ACTING)
  actAs(`${a.role}:${a.unit}`)
  try {
    session.me = await get<MeView>('/me')
  } catch (e) {
    actAs(before)
    throw e
  }
}

/**
 * Acts as a company or as a project manager from now on (someone outside
 * the staff directory). Resolves with whether the server refused the
 * manager (no verified phone): the user then stays a company.
 */
export async function actAsPersona(to: Persona): Promise<{ refused: boolean }> {
  const out = await switchPersona(to, meAs)
  actAs(out.acting)
  session.me = out.me
  return { refused: out.refused }
}

/** Whether the member is acting with this assignment now. */
export function isActing(me: MeView, a: AssignmentView): boolean {
  return me.role === a.role && me.unit?.code === a.unit
}

export async function logout(): Promise<void> {
  adopt(null)
  actAs(null)
  session.me = null
  if (config.auth.mode === 'oidc') await oidc().removeUser()
}

/** Staff who see applications and totals (an admin manages people, not applications). */
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
    case 'admin':
      return '/admin/staff'
    default:
      return '/login'
  }
}
