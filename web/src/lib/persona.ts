// What someone outside the staff directory acts as: a property company, or
// the project manager of the projects registered with their phone number.
// A real identity platform verifies the phone but says nothing about a
// role, so the user picks on 我的 and the client asks for it with
// `X-Acting-As`. The server accepts a manager only with a verified phone
// (`phone_number_verified: true`); otherwise it answers
// `403 phone_not_verified`, and the same token still acts as a company
// (`X-Acting-As: company`).

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

/** Whether the server refused a project manager for want of a verified phone. */
export function isPhoneRefusal(e: unknown): e is ApiError {
  return e instanceof ApiError && e.status === 403 && e.code === 'phone_not_verified'
}

export interface PersonaSwitch {
  /** /me as the user now acts. */
  me: MeView
  /** What to send as X-Acting-As from now on (null: nothing, the token's own role). */
  acting: Persona | null
  /** The server would not accept them as a project manager (no verified phone): they act as a company. */
  refused: boolean
}

/** Reads /me acting as `persona`; null sends no X-Acting-As (the token's own role). */
export type MeLoader = (persona: Persona | null) => Promise<MeView>

/**
 * Reads /me acting as `to`: a persona picked on 我的, or null at sign-in
 * (the token's own role, which may claim `project_manager`). If the server
 * refuses a manager without a verified phone (`403 phone_not_verified`),
 * /me is read again as a company and the user acts as one from now on.
 * Any other failure (a 401 included: the session's, as everywhere) is
 * thrown and nothing changes.
 */
export async function switchPersona(to: Persona | null, load: MeLoader): Promise<PersonaSwitch> {
  try {
    return { me: await load(to), acting: to, refused: false }
  } catch (e) {
    if (to === 'company' || !isPhoneRefusal(e)) throw e
    return { me: await load('company'), acting: 'company', refused: true }
  }
}
