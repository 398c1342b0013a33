// The dashboard's 逾期 total is the five timed states added up, the same
// states, in the same order, as the API describes; anything that is not a
// count adds nothing.

import { describe, expect, it } from 'vitest'
import type { Overdue } from '../api/types'
import zhCN from '../i18n/zh-CN'
import { OVERDUE_STATES, isTimedState, overdueOf, overdueTotal } from './overdue'

/** The states TotalsView.overdue requires, read from the API's description. */
const specs = import.meta.glob<string>('../../../docs/openapi.yaml', { query: '?raw', import: 'default', eager: true })
function specStates(): string[] {
  const spec = Object.values(specs)[0] ?? ''
  const totals = spec.slice(spec.indexOf('\n    TotalsView:'))
  const m = totals.match(/\n {8}overdue:\n(?: {10}.*\n)*? {10}required: \[([^\]]*)\]/)
  return m ? m[1].split(',').map((s) => s.trim()) : []
}

const zero: Overdue = { awaitingAreaConfirmation: 0, pendingCommunity: 0, pendingSubdistrict: 0, pendingDistrict: 0, approved: 0 }

describe('overdueTotal', () => {
  it('adds up the five timed states', () => {
    expect(overdueTotal({ awaitingAreaConfirmation: 1, pendingCommunity: 2, pendingSubdistrict: 3, pendingDistrict: 4, approved: 5 })).toBe(15)
    expect(overdueTotal({ ...zero, pendingCommunity: 2 })).toBe(2)
    expect(overdueTotal({ ...zero, approved: 7 })).toBe(7)
  })

  it('is 0 when nothing is overdue', () => {
    expect(overdueTotal(zero)).toBe(0)
  })

  it('is 0 for a missing or empty object', () => {
    expect(overdueTotal(undefined)).toBe(0)
    expect(overdueTotal(null)).toBe(0)
    expect(overdueTotal({})).toBe(0)
  })

  it('counts only the states it knows, and only counts', () => {
    const odd = { ...zero, pendingCommunity: 3, returned: 9, paid: 4 } as unknown as Overdue
    expect(overdueTotal(odd)).toBe(3)
    const bad = {
      awaitingAreaConfirmation: -1,
      pendingCommunity: 1.5,
      pendingSubdistrict: Number.NaN,
      pendingDistrict: '2',
      approved: Number.POSITIVE_INFINITY,
    } as unknown as Overdue
    expect(overdueTotal(bad)).toBe(0)
    expect(overdueTotal({ ...bad, pendingDistrict: 2 })).toBe(2)
    expect(overdueTotal('3' as unknown as Overdue)).toBe(0)
  })
})

describe('overdueOf', () => {
  it('gives one state’s figure', () => {
    const o = { ...zero, pendingCommunity: 2, pendingDistrict: 1 }
    expect(overdueOf(o, 'pendingCommunity')).toBe(2)
    expect(overdueOf(o, 'pendingDistrict')).toBe(1)
    expect(overdueOf(o, 'approved')).toBe(0)
  })

  it('is 0 for a state without a time limit, or no figures', () => {
    expect(overdueOf({ ...zero, pendingCommunity: 2 }, 'returned')).toBe(0)
    expect(overdueOf({ ...zero, pendingCommunity: 2 }, 'toString')).toBe(0)
    expect(overdueOf(undefined, 'pendingCommunity')).toBe(0)
    expect(overdueOf({ ...zero, pendingCommunity: -2 }, 'pendingCommunity')).toBe(0)
  })
})

describe('the timed states', () => {
  it('are the ones the API gives, in the order an application passes them', () => {
    expect(specStates()).toEqual([...OVERDUE_STATES])
    expect(OVERDUE_STATES).toEqual(['awaitingAreaConfirmation', 'pendingCommunity', 'pendingSubdistrict', 'pendingDistrict', 'approved'])
  })

  it('are counted states, with words for each', () => {
    for (const s of OVERDUE_STATES) expect(zhCN.stats.counts[s]).toBeTruthy()
    expect(isTimedState('pendingCommunity')).toBe(true)
    expect(isTimedState('returned')).toBe(false)
    expect(isTimedState('paid')).toBe(false)
  })
})
