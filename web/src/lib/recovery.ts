// 追回: the recovery of an overpayment found after payment. A district
// reviewer opens it on a paid application (an amount no more than what was
// paid, and a reason), a finance user other than the opener confirms it,
// and finance records repayments until nothing is owed. The rules here
// mirror the server's (core/src/application/state.rs); the server decides,
// this only keeps the screen from offering or sending what it would refuse.
// Amounts are exact: strings of yuan parsed to fen as BigInt, never floats.

import type { ApplicationView, RecoveryStatus, Role } from '../api/types'

/** Each status, its words (i18n key under `recovery.status`) and its tag colour. */
export const RECOVERY_STATUSES: readonly RecoveryStatus[] = ['awaiting_confirmation', 'recovering', 'recovered']

export type TagType = 'warning' | 'primary' | 'success' | 'default'

/** The i18n key of a status's label: 追回待确认 / 追回中 / 已追回. Unknown ones fall back to a generic label. */
export function recoveryStatusKey(status: string): string {
  return (RECOVERY_STATUSES as readonly string[]).includes(status) ? `recovery.status.${status}` : 'recovery.status.unknown'
}

/** The colour of a status's tag. */
export function recoveryTagType(status: string): TagType {
  return status === 'awaiting_confirmation' ? 'warning' : status === 'recovering' ? 'primary' : status === 'recovered' ? 'success' : 'default'
}

// ---- amounts ---------------------------------------------------------------

export type AmountError = 'required' | 'not_a_number' | 'too_many_decimals' | 'not_positive' | 'too_large' | 'above_limit'
export type AmountCheck = { ok: true; fen: bigint; yuan: string } | { ok: false; error: AmountError }

/** The largest amount taken at all, in fen (far above any subsidy): 10^15 yuan. */
const MAX_FEN = 10n ** 17n
const DIGITS = /^[0-9]+$/

/**
 * A yuan string to fen, exactly: digits, optionally a point and one or two
 * decimals ("300", "300.5", "300.00"); a sign, a comma, a space inside,
 * an exponent or a third decimal is not an amount. Null when it is not one.
 */
export function yuanToFen(input: string): bigint | null {
  const r = parseYuan(input.trim())
  return r.ok ? r.fen : null
}

function parseYuan(s: string): { ok: true; fen: bigint } | { ok: false; error: Exclude<AmountError, 'required' | 'above_limit' | 'not_positive'> } {
  const negative = s.startsWith('-')
  const body = negative ? s.slice(1) : s
  const dot = body.indexOf('.')
  const int = dot < 0 ? body : body.slice(0, dot)
  const frac = dot < 0 ? '' : body.slice(dot + 1)
  if (!DIGITS.test(int) || (dot >= 0 && !DIGITS.test(frac))) return { ok: false, error: 'not_a_number' }
  if (frac.length > 2) return { ok: false, error: 'too_many_decimals' }
  const whole = int.replace(/^0+/, '')
  if (whole.length > 16) return { ok: false, error: 'too_large' }
  const fen = BigInt(whole || '0') * 100n + BigInt((frac + '00').slice(0, 2))
  return { ok: true, fen: negative ? -fen : fen }
}

/** 30000n → "300.00". */
export function fenToYuan(fen: bigint): string {
  const neg = fen < 0n
  const abs = neg ? -fen : fen
  return `${neg ? '-' : ''}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`
}

/**
 * Checks an amount typed in yuan: a positive amount with at most two
 * decimals, no more than `limit` (a yuan string such as the approved amount
 * or what is still owed). A limit that is missing or not an amount limits
 * nothing here: the server still checks. On success, `yuan` is the amount
 * as it is sent ("300" → "300.00").
 */
export function checkAmount(input: string | null | undefined, limit?: string | null): AmountCheck {
  const s = (input ?? '').trim()
  if (s === '') return { ok: false, error: 'required' }
  const r = parseYuan(s)
  if (!r.ok) return r
  if (r.fen <= 0n) return { ok: false, error: 'not_positive' }
  if (r.fen > MAX_FEN) return { ok: false, error: 'too_large' }
  const max = limit == null ? null : yuanToFen(limit)
  if (max !== null && r.fen > max) return { ok: false, error: 'above_limit' }
  return { ok: true, fen: r.fen, yuan: fenToYuan(r.fen) }
}

// ---- repayment dates -------------------------------------------------------

export type DateError = 'required' | 'bad_date' | 'in_future'

/** A real calendar day written YYYY-MM-DD, on or before `today` (YYYY-MM-DD, Shenzhen's). */
export function checkRepaymentDate(input: string | null | undefined, today: string): DateError | null {
  const s = (input ?? '').trim()
  if (s === '') return 'required'
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s)
  if (!m) return 'bad_date'
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const day = new Date(Date.UTC(y, mo - 1, d))
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return 'bad_date'
  return s > today ? 'in_future' : null
}

// ---- who may do what -------------------------------------------------------

type App = Pick<ApplicationView, 'state' | 'recovery'>

/** A district reviewer may open a recovery on a paid application that has none. */
export function canOpenRecovery(role: Role | null | undefined, app: App | null | undefined): boolean {
  return role === 'district' && !!app && app.state === 'paid' && !app.recovery
}

/**
 * Finance may confirm a recovery that waits for it (the server refuses its
 * opener: maker_checker; the page cannot tell the opener from the API).
 */
export function canConfirmRecovery(role: Role | null | undefined, app: App | null | undefined): boolean {
  return role === 'finance' && app?.recovery?.status === 'awaiting_confirmation'
}

/** Finance records repayments once a recovery is confirmed, until nothing is owed. */
export function canRecordRepayment(role: Role | null | undefined, app: App | null | undefined): boolean {
  return role === 'finance' && app?.recovery?.status === 'recovering'
}
