// The staff directory's rules the screens need, as core/src/staff.rs has
// them: which roles fit a unit's level, the order the server keeps
// assignments in, and where a server error about a field belongs in the form.

import type { Level, StaffRole } from '../api/types'

/** The directory's roles, in the server's order (core's `Role`). */
export const STAFF_ROLES: readonly StaffRole[] = ['community', 'subdistrict', 'district', 'finance', 'city', 'admin']

/** At most this many assignments per member (core's MAX_ASSIGNMENTS). */
export const MAX_ASSIGNMENTS = 20

const LEVEL_OF: Record<Exclude<StaffRole, 'admin'>, Level> = {
  community: 'community',
  subdistrict: 'subdistrict',
  district: 'district',
  finance: 'district',
  city: 'city',
}

/** Whether a role may be held at a unit of this level: admin anywhere, the others at their own level. */
export function roleFits(role: StaffRole, level: Level): boolean {
  return role === 'admin' || LEVEL_OF[role] === level
}

/** The roles to offer for a unit of this level, in the server's order. */
export function rolesFor(level: Level): StaffRole[] {
  return STAFF_ROLES.filter((r) => roleFits(r, level))
}

/** One assignment as the form holds it: either part may still be missing. */
export interface AssignmentRow {
  role: StaffRole | null
  unit: string | null
  /** The unit's level, once known (from the tree). */
  level: Level | null
}

export interface StaffForm {
  sub: string
  name: string
  rows: AssignmentRow[]
}

export type Problem = 'required' | 'unfit' | 'duplicate' | 'none' | 'too_many'

/** Form key of an assignment's part: `assignments[2].unit`. */
export const rowKey = (i: number, part: 'role' | 'unit') => `assignments[${i}].${part}`

/**
 * What is wrong with the form before anything is sent, by form key (`sub`,
 * `name`, `assignments`, `assignments[i].role`, `assignments[i].unit`).
 * Only what the user can see is missing; the server judges the rest (a
 * subject with a space, say), and its answer is shown at the same keys.
 */
export function formProblems(form: StaffForm): Record<string, Problem> {
  const out: Record<string, Problem> = {}
  if (!form.sub.trim()) out.sub = 'required'
  if (!form.name.trim()) out.name = 'required'
  if (form.rows.length === 0) out.assignments = 'none'
  if (form.rows.length > MAX_ASSIGNMENTS) out.assignments = 'too_many'
  const seen = new Set<string>()
  form.rows.forEach((r, i) => {
    if (!r.unit) out[rowKey(i, 'unit')] = 'required'
    if (!r.role) out[rowKey(i, 'role')] = 'required'
    else if (r.level && !roleFits(r.role, r.level)) out[rowKey(i, 'role')] = 'unfit'
    if (r.role && r.unit) {
      const k = `${r.role}:${r.unit}`
      if (seen.has(k)) out[rowKey(i, 'role')] = 'duplicate'
      seen.add(k)
    }
  })
  return out
}

/**
 * The assignments to send, in the order the server keeps them (by role,
 * then unit), so that an index in a server error (`assignments[1].unit`)
 * means the same assignment however it is counted; `rowOf[k]` is the form
 * row the k-th sent assignment came from. Rows missing a part are left out.
 */
export function toAssignments(rows: AssignmentRow[]): { assignments: { role: StaffRole; unit: string }[]; rowOf: number[] } {
  const complete = rows
    .map((r, i) => ({ role: r.role, unit: r.unit, i }))
    .filter((r): r is { role: StaffRole; unit: string; i: number } => !!r.role && !!r.unit)
  complete.sort((a, b) => STAFF_ROLES.indexOf(a.role) - STAFF_ROLES.indexOf(b.role) || (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0))
  return { assignments: complete.map(({ role, unit }) => ({ role, unit })), rowOf: complete.map((r) => r.i) }
}

/**
 * Where a server error's `field` belongs in the form: `sub`, `name` and
 * `assignments` as they are; `assignments[k].role|unit` at the form row the
 * k-th sent assignment came from. Null for a field the form does not show.
 */
export function formKeyOf(field: string | undefined, rowOf: number[]): string | null {
  if (!field) return null
  if (field === 'sub' || field === 'name' || field === 'assignments') return field
  const m = /^assignments\[(\d+)\]\.(role|unit)$/.exec(field)
  if (!m) return null
  const row = rowOf[Number(m[1])]
  return row === undefined ? 'assignments' : rowKey(row, m[2] as 'role' | 'unit')
}
