// How a notice reads: the server sends a kind and the values to fill in
// (core/src/notify: `project` always, the rest by kind); the words are the
// client's, in the reader's language, under `notices.kinds.<kind>` with one
// named placeholder per value. A kind this client does not know yet (the
// server adds kinds before every client is updated) reads as a generic
// line, never as a raw code or an error.

import type { NoticeKind, NoticeView } from '../api/types'
import { i18n } from '../i18n'
import { formatArea, formatYuan } from './format'

/** Each kind's values, as the server fills them; its wording uses every one. */
export const NOTICE_PARAMS = {
  area_awaiting_confirmation: ['project', 'area', 'company'],
  area_confirmed: ['project', 'area'],
  area_disputed: ['project', 'reason'],
  returned: ['project', 'reason', 'by'],
  rejected: ['project', 'reason', 'by'],
  approved: ['project', 'amount'],
  paid: ['project', 'amount'],
  payment_failed: ['project', 'reason'],
  bank_account_verified: ['project'],
  urged: ['project', 'company'],
  review_digest: ['date', 'tier', 'arrivals', 'overdue'],
  overdue_below: ['date', 'tier', 'count', 'days'],
  batch_awaiting_release: ['batch', 'lines', 'amount'],
  results_failed: ['batch', 'failed', 'amount'],
  recovery_opened: ['project', 'amount', 'company'],
  objection_filed: ['project', 'company'],
} as const satisfies Record<NoticeKind, readonly string[]>

export const NOTICE_KINDS = Object.keys(NOTICE_PARAMS) as NoticeKind[]

export function isKnownKind(kind: string): kind is NoticeKind {
  return Object.prototype.hasOwnProperty.call(NOTICE_PARAMS, kind)
}

const DECIMAL = /^-?\d+(\.\d+)?$/

/**
 * The values as the screens show them: an area in m² and an amount in
 * yuan with separators, the deciding role by its name, a reason without
 * its closing stop (the sentence adds one). A value the server left out
 * reads as a dash rather than as nothing.
 */
export function noticeValues(n: Pick<NoticeView, 'kind' | 'params'>): Record<string, string> {
  const { t, te } = i18n.global
  const p = n.params ?? {}
  const names: readonly string[] = isKnownKind(n.kind) ? NOTICE_PARAMS[n.kind] : Object.keys(p)
  const out: Record<string, string> = {}
  for (const name of names) {
    const raw = (p[name] ?? '').trim()
    if (!raw) {
      out[name] = '—'
      continue
    }
    switch (name) {
      case 'area':
        out[name] = DECIMAL.test(raw) ? formatArea(raw) : raw
        break
      case 'amount':
        out[name] = DECIMAL.test(raw) ? formatYuan(raw) : raw
        break
      case 'by':
      case 'tier':
        out[name] = te(`roles.${raw}`) ? t(`roles.${raw}`) : raw
        break
      case 'reason':
        out[name] = raw.replace(/[。.！!；;，,\s]+$/u, '') || raw
        break
      default:
        out[name] = raw
    }
  }
  return out
}

/**
 * Where opening a notice leads: its application; for the daily escalation
 * (督办, no application of its own) the reviewer's 下级超期 list; for
 * finance's, the batch; otherwise nowhere (null).
 */
export function noticeTarget(
  n: Pick<NoticeView, 'kind' | 'applicationId'> & { params?: NoticeView['params'] },
): string | null {
  if (n.applicationId) return `/applications/${encodeURIComponent(n.applicationId)}`
  if (n.kind === 'overdue_below') return '/review/inbox?view=below'
  const batch = (n.params?.batch ?? '').trim()
  if ((n.kind === 'batch_awaiting_release' || n.kind === 'results_failed') && batch) {
    return `/finance/batches/${encodeURIComponent(batch)}`
  }
  return null
}

/** A notice's headline and sentence in the current language. */
export function noticeText(n: Pick<NoticeView, 'kind' | 'params'>): { title: string; body: string } {
  const { t } = i18n.global
  if (isKnownKind(n.kind)) {
    return { title: t(`notices.titles.${n.kind}`), body: t(`notices.kinds.${n.kind}`, noticeValues(n)) }
  }
  const project = (n.params?.project ?? '').trim()
  return {
    title: t('notices.titles.fallback'),
    body: project ? t('notices.fallback.project', { project }) : t('notices.fallback.plain'),
  }
}
