// What someone outside the staff directory acts as: a property company, or
// the project manager of the projects registered with their phone number.
// A real identity platform verifies the phone but says nothing about a
// role, so the user picks on 我的 and the client asks for it with
// `X-Acting-As`. The server accepts a manager only with a verified phone
// (`phone_number_verified: true`); otherwise it answers 401.

import { ApiError } from '../api/client'
import type { MeView } from '../api/types'

export type Persona = 'company' | 'project_manager'

/** The personas, in the order 我的 offers them. */
export const PERSONAS: readonly Persona[] = ['company', 'project_manager']

/**
 * The persona the user acts as now; null for staff, whose directory
 * assignments decide what they do (a staff member is never a company).
 */
export function personaOf(me: Pick<MeView, 'role' | 'assignments'> | null): Persona | null {
  if (!me || me.assignments.length > 0) return null
  return me.role === 'company' || me.role === 'project_manager' ? me.role : null
}

export interface PersonaSwitch {
  /** /me as the user now acts. */
  me: MeView
  /** What to send as X-Acting-As from now on. */
  acting: Persona
  /** The server would not accept them as a project manager (no verified phone): they stay a company. */
  refused: boolean
}

/**
 * Reads /me as `persona`. `ownUnauthorized`: a 401 is thrown to the
 * caller, the session kept; otherwise a 401 signs the user out as usual.
 */
export type MeLoader = (persona: Persona, ownUnauthorized: boolean) => Promise<MeView>

/**
 * Switches to `to`. The server answers a manager without a verified phone
 * with 401, as it answers a session that has lapsed; the two are told
 * apart by reading /me again as a company: if that works, the phone was
 * the reason and the user stays a company; if it is refused too, that
 * refusal is the session's and signs them out. Any other failure is thrown
 * and nothing changes.
 */
export async function switchPersona(to: Persona, load: MeLoader): Promise<PersonaSwitch> {
  if (to === 'company') return { me: await load('company', false), acting: 'company', refused: false }
  try {
    return { me: await load('project_manager', true), acting: 'project_manager', refused: false }
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) throw e
    return { me: await load('company', false), acting: 'company', refused: true }
  }
}
