// Who is signed in. In standalone mode a demo-account picker signs in
// through /auth/dev-login; in the cloud, an OIDC provider (authorization
// code with PKCE, via oidc-client-ts) issues the access token the API's
// JWT authorizer checks. Either way the token is kept for the tab's
// lifetime and dropped on a 401. The token only identifies: what a staff
// member may do comes from the staff directory, which may refuse them
// (disabled, or no longer holding the assignment they act with); the login
// page then says why. Signing out, or being turned away, with a provider
// also ends the provider's session, so that the next sign-in asks the
// provider again instead of quietly reusing it.

import { reactive } from 'vue'
import { UserManager, WebStorageStateStore } from 'oidc-client-ts'
import { ACCOUNT_REFUSALS, ApiError, get, onRefused, onSignedOut, post, request, setActingAs, setToken } from '../api/client'
import type { AssignmentView, DemoAccount, MeView, Role } from '../api/types'
import { config } from '../config'
import { switchPersona, type Persona } from '../lib/persona'

const KEY = 'subsidy.token'
const ACTING = 'subsidy.actingAs'
/** Why the tab went to the provider's sign-out: the refusal the login page shows when it comes back. */
const TURNED_AWAY = 'subsidy.turnedAway'

export const session = reactive<{
  token: string | null
  me: MeView | null
  /**
   * The server refused the user as a project manager when they signed in
   * (no verified phone): they act as a company, and 我的 says why, once.
   */
  managerRefused: boolean
}>({ token: null, me: null, managerRefused: false })

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

function forget(): void {
  adopt(null)
  actAs(null)
  session.me = null
  session.managerRefused = false
}

/**
 * Ends the provider's session too (OIDC only): through its
 * `end_session_endpoint` when its discovery document names one (the page
 * goes there and the provider sends it back to the client), else only the
 * stored user is removed (Cognito, for one, names none). Either way
 * oidc-client-ts's stored user is gone: signoutRedirect removes it before
 * it leaves. `refusal`: what the login page says when the page is back.
 */
async function signOutAtProvider(refusal: string | null): Promise<void> {
  if (config.auth.mode !== 'oidc') return
  const m = oidc()
  let endSession: string | undefined
  try {
    endSession = await m.metadataService.getEndSessionEndpoint()
  } catch {
    endSession = undefined // discovery unreachable: forget the user here at least
  }
  if (endSession) {
    if (refusal) sessionStorage.setItem(TURNED_AWAY, refusal)
    try {
      await m.signoutRedirect()
      return
    } catch {
      sessionStorage.removeItem(TURNED_AWAY)
    }
  }
  await m.removeUser()
}

/** Signs out a member the directory refused, and shows the login page saying why. */
async function turnAway(code: string): Promise<void> {
  forget()
  location.hash = `#/login?refused=${code}`
  await signOutAtProvider(code)
}

/** Reads /me as a company or a manager, or (null) as the token says. */
const meAs = async (p: Persona | null) => (await request('GET', '/me', { actingAs: p })).json() as Promise<MeView>

/**
 * /me as the tab acts: acting as the first assignment again if the chosen
 * one was taken away, and as a company if the server does not take the
 * user as a project manager (no verified phone), whether the token claims
 * the role or the tab acted as one before.
 */
async function loadMe(): Promise<MeView> {
  const acting = sessionStorage.getItem(ACTING)
  if (acting === null || acting === 'company' || acting === 'project_manager') {
    const out = await switchPersona(acting, meAs)
    actAs(out.acting)
    session.managerRefused = out.refused
    return out.me
  }
  try {
    return await get<MeView>('/me')
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 'not_assigned')) throw e
    actAs(null)
    return loadMe()
  }
}

/**
 * Where a user lands once signed in: 我的, saying why, if they were
 * refused as a project manager; otherwise `next` or their role's home.
 */
export function landing(next?: string | null): string {
  return session.managerRefused ? '/me' : (next ?? homeOf(session.me?.role))
}

/** Whether the server refused the user as a project manager at sign-in; reading it clears it. */
export function takeManagerRefusal(): boolean {
  const refused = session.managerRefused
  session.managerRefused = false
  return refused
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
  // again, acting with their first. Requests in flight together (a page's
  // and the 通知 badge's) are refused together: the first refusal decides.
  let restarting = false
  onRefused((code) => {
    if (!session.me || restarting) return
    if (code === 'not_assigned' && sessionStorage.getItem(ACTING)) {
      restarting = true
      actAs(null)
      location.reload()
      return
    }
    void turnAway(code)
  })
  const params = new URLSearchParams(location.search)
  if (config.auth.mode === 'oidc' && params.has('code') && params.has('state')) {
    const user = await oidc().signinRedirectCallback()
    history.replaceState(null, '', `${location.pathname}${location.hash || '#/'}`)
    adopt(user.access_token)
  } else {
    adopt(sessionStorage.getItem(KEY))
  }
  // Back from the provider's sign-out after being turned away: say why.
  const turnedAway = sessionStorage.getItem(TURNED_AWAY)
  sessionStorage.removeItem(TURNED_AWAY)
  if (!session.token && turnedAway && ACCOUNT_REFUSALS.includes(turnedAway)) location.hash = `#/login?refused=${turnedAway}`
  actAs(session.token ? sessionStorage.getItem(ACTING) : null)
  if (session.token) {
    try {
      session.me = await loadMe()
      if (session.managerRefused) location.hash = `#${landing()}`
    } catch (e) {
      if (isRefusal(e)) {
        // The app shows the refusal meanwhile; the page then goes to the provider's sign-out.
        void turnAway(e.code)
      } else {
        adopt(null)
        actAs(null)
      }
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
    session.me = await loadMe()
  } catch (e) {
    forget()
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
 * manager (403 phone_not_verified): the user then stays a company.
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

/** Signs out, at the provider too (with an end-session endpoint the page leaves for it and comes back to the login page). */
export async function logout(): Promise<void> {
  forget()
  await signOutAtProvider(null)
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
