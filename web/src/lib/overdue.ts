// The dashboard's 逾期 figures: of the applications waiting at a step with
// a time limit (办理时限), how many are past it now, per state and all
// together. A figure that is not a count (missing, negative, fractional,
// not a number) reads as 0, so one bad field never hides the others.

import type { Overdue } from '../api/types'

/** The states with a time limit, in the order an application passes them. */
export const OVERDUE_STATES: readonly (keyof Overdue)[] = [
  'awaitingAreaConfirmation',
  'pendingCommunity',
  'pendingSubdistrict',
  'pendingDistrict',
  'approved',
]

export function isTimedState(state: string): state is keyof Overdue {
  return (OVERDUE_STATES as readonly string[]).includes(state)
}

/** The overdue figure for one state; 0 when there is none or it is not a count. */
export function overdueOf(o: Partial<Overdue> | null | undefined, state: string): number {
  if (!o || typeof o !== 'object' || !isTimedState(state)) return 0
  const n = o[state]
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : 0
}

/** The overdue applications of all the timed states together. */
export function overdueTotal(o: Partial<Overdue> | null | undefined): number {
  return OVERDUE_STATES.reduce((sum, state) => sum + overdueOf(o, state), 0)
}
