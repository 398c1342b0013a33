// 公示: with a policy's publicNoticeDays above 0, the district's 审核 puts an
// application on the district's public notice (in_public_notice) before it
// is payable. Anyone may read the notice without signing in; anyone signed
// in may object (异议) once per notice inside its window; an objection holds
// the application until a district reviewer dismisses it (the notice goes
// on, its window not restarted) or returns the application to 审核. The
// server decides all of it (core/src/application/notice.rs); these helpers
// only arrange what it sends for the screens.

import type { ApplicationView, DocumentView, MyObjection, ObjectionView, PublicNoticeItem, Role, UnitSummary } from '../api/types'
import { MAX_OBJECTION_EVIDENCE } from './documents'
import { formatDate } from './format'

/** The district shown when the URL names none (福田区). */
export const DEFAULT_DISTRICT = '440304'

const CODE = /^\d{6}$/

/** Whether `s` looks like a district-level code (six digits); the server says whether there is one. */
export function isDistrictCode(s: unknown): s is string {
  return typeof s === 'string' && CODE.test(s)
}

/** The district a `?district=` query names, or the default for a missing or malformed one. */
export function districtFromQuery(q: unknown): string {
  const v = Array.isArray(q) ? q[0] : q
  return isDistrictCode(v) ? v : DEFAULT_DISTRICT
}

/**
 * The China date of a window's last day: the day of the instant just
 * before `endsAt` (the server ends a window at the start of the China day
 * after its last, so that is the day before it). "—" for a bad instant.
 */
export function lastNoticeDay(endsAt: string): string {
  const t = Date.parse(endsAt)
  if (Number.isNaN(t)) return '—'
  return formatDate(new Date(t - 1).toISOString())
}

/** A window as dates (China time): from its publication day to its last day. */
export function noticeWindow(n: { startsAt: string; endsAt: string; noticeDate?: string }): { from: string; to: string } {
  return { from: n.noticeDate || formatDate(n.startsAt), to: lastNoticeDay(n.endsAt) }
}

/** One day's approvals: one notice (公示), with its window. */
export interface NoticeGroup {
  /** The publication day, YYYY-MM-DD (China). */
  date: string
  /** The window's first and last days; the latest last day when the items differ (they should not). */
  from: string
  to: string
  items: PublicNoticeItem[]
}

/**
 * The items grouped by their publication day, the days in the order they
 * first come (the server sends the oldest publication first), each item
 * in the order it came. A day split across pages is one group.
 */
export function groupByNoticeDate(items: readonly PublicNoticeItem[]): NoticeGroup[] {
  const groups = new Map<string, NoticeGroup>()
  for (const item of items) {
    const w = noticeWindow(item)
    const g = groups.get(w.from)
    if (!g) groups.set(w.from, { date: w.from, from: w.from, to: w.to, items: [item] })
    else {
      g.items.push(item)
      if (w.to > g.to) g.to = w.to
    }
  }
  return [...groups.values()]
}

/**
 * The list after another page: an application listed already (its notice
 * changed between the pages, say an objection held it) takes the newer
 * copy in place, not a second row.
 */
export function appendPage(listed: readonly PublicNoticeItem[], page: readonly PublicNoticeItem[]): PublicNoticeItem[] {
  const fresh = new Map(page.map((i) => [i.applicationId, i]))
  const out = listed.map((i) => fresh.get(i.applicationId) ?? i)
  const seen = new Set(listed.map((i) => i.applicationId))
  for (const i of page) if (!seen.has(i.applicationId)) out.push(i)
  return out
}

// ---- the district picker ----------------------------------------------------

export interface District {
  code: string
  name: string
}

/**
 * The districts to offer: the district-level units the list names (every
 * one, signed in or not), in its order, once each, with the one shown
 * added at the end should it be missing (a server that names none).
 */
export function districtOptions(units: readonly UnitSummary[] | null | undefined, shown: District | null = null): District[] {
  const list: District[] = []
  for (const u of units ?? []) {
    if (u.level === 'district' && isDistrictCode(u.code) && u.name && !list.some((d) => d.code === u.code)) list.push({ code: u.code, name: u.name })
  }
  if (shown && isDistrictCode(shown.code) && shown.name && !list.some((d) => d.code === shown.code)) list.push({ code: shown.code, name: shown.name })
  return list
}

/** Whether an objection to the item may be offered: an open window (the server refuses one that has ended: `notice_closed`). */
export function mayObjectTo(item: Pick<PublicNoticeItem, 'ended'>): boolean {
  return !item.ended
}

// ---- on the application -----------------------------------------------------

/**
 * Where an application's notice stands: in its window (公示中), held by an
 * objection (异议处理中), returned to 审核 by an upheld objection, or over
 * (closed and payable, or beyond). Null without a notice.
 */
export type NoticeStatus = 'open' | 'on_hold' | 'returned' | 'closed'

export function noticeStatus(app: Pick<ApplicationView, 'state' | 'notice'>): NoticeStatus | null {
  const n = app.notice
  if (!n) return null
  if (app.state === 'in_public_notice') return n.onHold ? 'on_hold' : 'open'
  const last = n.objections[n.objections.length - 1]
  // A re-approval publishes a new notice: an upheld objection is the end of this one.
  if (last?.resolution === 'returned_to_review') return 'returned'
  return 'closed'
}

/** Whether the role may resolve the objections now (the server decides; this only offers the buttons). */
export function canResolveObjections(role: Role | undefined, app: Pick<ApplicationView, 'state' | 'notice'>): boolean {
  return role === 'district' && app.state === 'in_public_notice' && !!app.notice?.onHold
}

/** The objections still waiting for the district. */
export function waitingObjections(objections: readonly ObjectionView[]): ObjectionView[] {
  return objections.filter((o) => o.resolution === null)
}

// ---- 我的异议: the objector's own objection --------------------------------------

/**
 * Where the caller's own objection stands, for its tag: waiting for the
 * district (处理中), dismissed (异议不成立) or upheld and returned to 审核
 * (异议成立，已退回审核); `resolved` for an outcome this client does not
 * know yet.
 */
export type MyObjectionStatus = 'pending' | 'dismissed' | 'returned_to_review' | 'resolved'

export function myObjectionStatus(o: Pick<MyObjection, 'resolution'>): MyObjectionStatus {
  const r = o.resolution as string | null
  if (r === null || r === undefined) return 'pending'
  return r === 'dismissed' || r === 'returned_to_review' ? r : 'resolved'
}

/** The tag's colour for a status: waiting is a warning, dismissed plain, upheld a success for the objector. */
export function myObjectionTagType(s: MyObjectionStatus): 'warning' | 'default' | 'success' | 'primary' {
  return s === 'pending' ? 'warning' : s === 'returned_to_review' ? 'success' : s === 'dismissed' ? 'default' : 'primary'
}

/**
 * What the content check made of an evidence file: passed (已校验),
 * refused (未通过, with the server's reason), not yet checked (校验中: on
 * AWS the check runs a moment after the upload), or a status this client
 * does not know.
 */
export type EvidenceCheck = 'verified' | 'refused' | 'pending' | 'unknown'

export function evidenceCheck(d: Pick<DocumentView, 'status'>): EvidenceCheck {
  const s = d.status as string
  return s === 'verified' || s === 'refused' || s === 'pending' ? s : 'unknown'
}

export function evidenceTagType(c: EvidenceCheck): 'success' | 'danger' | 'warning' | 'default' {
  return c === 'verified' ? 'success' : c === 'refused' ? 'danger' : c === 'pending' ? 'warning' : 'default'
}

/**
 * The files that take a place in the objector's quota: every one but
 * those the check refused (the server's rule: a refused file cannot be
 * removed, so it does not count; one not yet checked does).
 */
export function evidenceHeld(docs: readonly Pick<DocumentView, 'status'>[]): number {
  return docs.filter((d) => d.status !== 'refused').length
}

/** How many more files the objector may attach (never below 0). */
export function evidenceSlotsLeft(docs: readonly Pick<DocumentView, 'status'>[], max = MAX_OBJECTION_EVIDENCE): number {
  return Math.max(0, max - evidenceHeld(docs))
}

/** Whether to offer 上传异议材料 from 我的异议: the notice still takes evidence, and a place is left. */
export function mayAddEvidence(o: Pick<MyObjection, 'ended' | 'documents'>, max = MAX_OBJECTION_EVIDENCE): boolean {
  return !o.ended && evidenceSlotsLeft(o.documents, max) > 0
}

/** Whether a file still waits for its check (the view asks again a little later). */
export function evidenceChecking(docs: readonly Pick<DocumentView, 'status'>[]): boolean {
  return docs.some((d) => d.status === 'pending')
}
