// The budget forecast (预算预测) on the finance page and a district's
// dashboard: what is still in review, per state, and what would remain of
// the district's budget if all of it were approved as claimed. Amounts are
// the API's exact yuan strings, read as whole fen with BigInt, never as
// floats; a figure that is not an amount shows as "—" and never as a wrong
// number.

import type { ForecastView, InReview } from '../api/types'
import { groupDecimal } from './format'

/** The states still in review, in the order an application passes them; 退回补正 last (it may come back). */
export const IN_REVIEW_STATES: readonly (keyof InReview)[] = [
  'awaitingAreaConfirmation',
  'pendingCommunity',
  'pendingSubdistrict',
  'pendingDistrict',
  'returned',
]

const AMOUNT = /^(-?)(\d{1,20})\.(\d{2})$/

/** An exact yuan string ("-5010000.00", two decimals) in fen; null when it is not one. */
export function yuanToFen(yuan: unknown): bigint | null {
  if (typeof yuan !== 'string') return null
  const m = AMOUNT.exec(yuan)
  if (!m) return null
  const fen = BigInt(m[2]) * 100n + BigInt(m[3])
  return m[1] ? -fen : fen
}

/** Fen as an exact yuan string: -501000000n → "-5010000.00". */
export function fenToYuan(fen: bigint): string {
  const abs = fen < 0n ? -fen : fen
  const s = `${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`
  return fen < 0n ? `-${s}` : s
}

/**
 * A yuan amount that may be negative, as the page shows amounts:
 * "30000000.00" → "¥30,000,000.00", "-5010000.00" → "-¥5,010,000.00";
 * "-0.00" → "¥0.00"; anything that is not an amount → "—".
 */
export function formatSignedYuan(yuan: unknown): string {
  const fen = yuanToFen(yuan)
  if (fen === null) return '—'
  const s = groupDecimal(fenToYuan(fen < 0n ? -fen : fen))
  return fen < 0n ? `-¥${s}` : `¥${s}`
}

/**
 * By how much the budget would be overspent if everything in review were
 * approved: the absolute value of a negative remainingAfterReview
 * ("-5010000.00" → "5010000.00"); null when it is not negative or not an
 * amount.
 */
export function shortfallYuan(remaining: unknown): string | null {
  const fen = yuanToFen(remaining)
  return fen !== null && fen < 0n ? fenToYuan(-fen) : null
}

/** The warning to show: null for none; `yuan` is the shortfall, null when the figure cannot be read. */
export interface Shortfall {
  yuan: string | null
}

/**
 * Whether the forecast warns, and by how much. It warns when the server
 * says `short` or when the remaining figure is negative (either alone is
 * enough: a warning is never hidden by one odd field). No forecast, or not
 * an object, warns of nothing.
 */
export function shortfall(f: Partial<ForecastView> | null | undefined): Shortfall | null {
  if (!f || typeof f !== 'object') return null
  const yuan = shortfallYuan(f.remainingAfterReview?.yuan)
  if (yuan === null && f.short !== true) return null
  return { yuan }
}

/** The in-review rows, one per state, in order; a missing figure reads null. */
export function inReviewRows(f: Partial<ForecastView> | null | undefined): { state: keyof InReview; yuan: string | null }[] {
  const review = f && typeof f === 'object' && f.inReview && typeof f.inReview === 'object' ? f.inReview : null
  return IN_REVIEW_STATES.map((state) => {
    const yuan = review?.[state]?.yuan
    return { state, yuan: typeof yuan === 'string' ? yuan : null }
  })
}
