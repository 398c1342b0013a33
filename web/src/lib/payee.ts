// The district's verification of the account an application is to be paid
// to (核验收款账户): when there is one to verify, how a full number is shown
// for reading, and when the verify button may be pressed. The rules mirror
// the server's (core/src/application.rs, core/src/state.rs); the server
// decides, this only keeps the screen from offering what it would refuse.

import type { ApplicationView, AuditEntry, PayeeReveal, RevealedAccount } from '../api/types'

/**
 * An account number in groups of four digits, for reading it out and
 * comparing it with a document: "4000021234567890123" → "4000 0212 3456 7890 123".
 * Spaces and dashes already in it are dropped first.
 */
export function groupBy4(number: string): string {
  return number
    .replace(/[\s-]+/g, '')
    .replace(/(.{4})(?=.)/g, '$1 ')
}

/**
 * Whether a district reviewer has an account to verify on the application:
 * a change waiting while the district reviews it, in its public notice
 * (公示) or after approval, or the account a payment failed to. Otherwise
 * reveal answers 409 wrong_state.
 */
export function payeeToVerify(app: Pick<ApplicationView, 'state' | 'payeeChangePending'>): boolean {
  if (app.state === 'payment_failed') return true
  return (app.state === 'pending_district' || app.state === 'in_public_notice' || app.state === 'approved') && app.payeeChangePending
}

/** The account being verified: the change, or (after a failed payment with no change) the one on file. */
export function accountToVerify(reveal: PayeeReveal): RevealedAccount | null {
  return reveal.change ?? reveal.payee
}

export type AccountField = 'bankName' | 'accountName' | 'accountNumber'

/** Which parts of the account differ between the one on file and the change (none without both). */
export function changedFields(onFile: RevealedAccount | null, change: RevealedAccount | null): AccountField[] {
  if (!onFile || !change) return []
  const fields: AccountField[] = ['bankName', 'accountName', 'accountNumber']
  return fields.filter((f) => onFile[f].trim() !== change[f].trim())
}

/** What still stands between the reviewer and the verify button, or null when nothing does. */
export type VerifyBlocker = 'reveal' | 'stale' | 'holder' | 'busy'

export interface VerifyGate {
  /** The reveal answer, while the page shows it; null before (or after leaving). */
  reveal: PayeeReveal | null
  /** The application's version as the page knows it now. */
  appVersion: number
  /** The 我已核实户名与企业的关系 checkbox. */
  holderConfirmed: boolean
  busy: boolean
}

export function verifyBlocker(g: VerifyGate): VerifyBlocker | null {
  if (!g.reveal) return 'reveal'
  // Anything since the reveal (another change of account, another action)
  // may have changed what is to be verified: it is opened again first.
  if (!revealIsCurrent(g.reveal, g.appVersion)) return 'stale'
  if (!g.reveal.holderNameMatches && !g.holderConfirmed) return 'holder'
  if (g.busy) return 'busy'
  return null
}

export function canVerify(g: VerifyGate): boolean {
  return verifyBlocker(g) === null
}

/** Whether a reveal still describes the application: nothing has happened to it since. */
export function revealIsCurrent(reveal: PayeeReveal, appVersion: number): boolean {
  return appVersion <= reveal.version
}

/**
 * The verify-bank-account body: the version the reveal answered with, and
 * the holder confirmation only when it is needed and was given.
 */
export function verifyBody(reveal: PayeeReveal, holderConfirmed: boolean): { version: number; confirmHolderName?: boolean } {
  return !reveal.holderNameMatches && holderConfirmed ? { version: reveal.version, confirmHolderName: true } : { version: reveal.version }
}

/** The pre-checks about the payee, which the district's verification settles. */
export const PAYEE_CHECKS = ['payee_changed_since_submission', 'payee_holder_differs']

/**
 * Whether a pre-check about the payee was settled after it was made: a
 * district reviewer verified the account since (the report is written when
 * the application arrives at a tier and is not rewritten afterwards).
 */
export function payeeCheckSettled(code: string, checkedAt: string, timeline: Pick<AuditEntry, 'action' | 'at'>[]): boolean {
  if (!PAYEE_CHECKS.includes(code)) return false
  const since = Date.parse(checkedAt)
  return timeline.some((e) => e.action === 'verify_bank_account' && Date.parse(e.at) > since)
}
