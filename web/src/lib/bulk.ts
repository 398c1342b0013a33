// 批量通过: the request the inbox sends (1 to 100 distinct applications,
// each with the version the reviewer saw), what its answer says per
// outcome, and the spot check (抽查). Past the policy's minimum the server
// draws a sample of the selection and answers 409 `spot_check_required`
// until the reviewer has opened each sampled application in detail; the
// sample is fixed for a selection, so the inbox keeps the selection (and
// which sampled applications were opened) in the tab's sessionStorage
// while the reviewer goes through them.

import { ApiError } from '../api/client'
import type { ApplicationView, BulkApproveItem, BulkApproveRequest, BulkOutcome } from '../api/types'

/** The most applications one bulk approval may carry (the server's limit too). */
export const MAX_BULK = 100

export const OUTCOMES: readonly BulkOutcome[] = ['approved', 'conflict', 'wrong_state', 'not_found', 'refused']

/** Why a selection is not sent. */
export type BulkRefusal =
  | { kind: 'empty' }
  | { kind: 'too_many'; n: number; max: number }
  | { kind: 'duplicate'; id: string }
  | { kind: 'bad_item'; index: number }

export type BuiltRequest = { ok: true; body: BulkApproveRequest } | { ok: false; refusal: BulkRefusal }

const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** The body of a bulk approval of `chosen`, in their order; or why it cannot be sent. */
export function buildBulkRequest(chosen: readonly { id: string; version: number }[]): BuiltRequest {
  if (!Array.isArray(chosen) || chosen.length === 0) return { ok: false, refusal: { kind: 'empty' } }
  if (chosen.length > MAX_BULK) return { ok: false, refusal: { kind: 'too_many', n: chosen.length, max: MAX_BULK } }
  const seen = new Set<string>()
  const items: BulkApproveItem[] = []
  for (const [index, a] of chosen.entries()) {
    if (!a || typeof a.id !== 'string' || !a.id.trim() || !isVersion(a.version)) return { ok: false, refusal: { kind: 'bad_item', index } }
    if (seen.has(a.id)) return { ok: false, refusal: { kind: 'duplicate', id: a.id } }
    seen.add(a.id)
    // Only the id and the version: an area is lowered one application at a time.
    items.push({ id: a.id, version: a.version })
  }
  return { ok: true, body: { items } }
}

/** What the inbox knows of an application, to name it. */
export type Named = Pick<ApplicationView, 'id' | 'companyName'> & { project: { name: string } }

/** An outcome as the summary counts it: the server's, or `unknown` when its answer left the item out. */
export type SummaryOutcome = BulkOutcome | 'unknown'

export interface BulkFailure {
  id: string
  /** The project's name, or the id when the inbox does not list it. */
  name: string
  outcome: SummaryOutcome
  code?: string
  message?: string
}

export interface BulkSummary {
  approved: number
  failures: BulkFailure[]
  /** How many items ended each way (every outcome present, 0 when none). */
  counts: Record<SummaryOutcome, number>
}

/**
 * The answer to a bulk approval of `sent`, per item in the order sent: an
 * outcome the client does not know reads as `refused`, an item the answer
 * leaves out as `unknown`, and a result for an id not sent is ignored.
 */
export function summarise(sent: readonly BulkApproveItem[], answer: unknown, items: readonly Named[]): BulkSummary {
  const results = (answer as { results?: unknown } | null)?.results
  const byId = new Map<string, { outcome: BulkOutcome; code?: string; message?: string }>()
  if (Array.isArray(results)) {
    for (const r of results) {
      if (!r || typeof r !== 'object' || typeof r.id !== 'string' || byId.has(r.id)) continue
      const outcome = (OUTCOMES as readonly unknown[]).includes(r.outcome) ? (r.outcome as BulkOutcome) : 'refused'
      byId.set(r.id, {
        outcome,
        code: typeof r.code === 'string' ? r.code : undefined,
        message: typeof r.message === 'string' ? r.message : undefined,
      })
    }
  }
  const names = new Map(items.map((a) => [a.id, a.project.name]))
  const counts: Record<SummaryOutcome, number> = { approved: 0, conflict: 0, wrong_state: 0, not_found: 0, refused: 0, unknown: 0 }
  const failures: BulkFailure[] = []
  for (const { id } of sent) {
    const r = byId.get(id)
    const outcome: SummaryOutcome = r?.outcome ?? 'unknown'
    counts[outcome] += 1
    if (outcome === 'approved') continue
    const failure: BulkFailure = { id, name: names.get(id) ?? id, outcome }
    if (r?.code) failure.code = r.code
    if (r?.message) failure.message = r.message
    failures.push(failure)
  }
  return { approved: counts.approved, failures, counts }
}

/** The applications still to open, when `e` is the server's 409 `spot_check_required`; null for any other failure. */
export function spotCheckSample(e: unknown): string[] | null {
  if (!(e instanceof ApiError) || e.code !== 'spot_check_required') return null
  return uniqueIds(e.sample ?? [])
}

function uniqueIds(ids: readonly unknown[]): string[] {
  const out: string[] = []
  for (const id of ids) if (typeof id === 'string' && id.trim() && !out.includes(id)) out.push(id)
  return out
}

/** A sampled application as the spot-check list shows it: by project and company, or by id alone when the inbox does not list it. */
export interface SampleRow {
  id: string
  project: string | null
  company: string | null
}

export function sampleRows(sample: readonly string[], items: readonly Named[]): SampleRow[] {
  const byId = new Map(items.map((a) => [a.id, a]))
  return uniqueIds(sample).map((id) => {
    const a = byId.get(id)
    return { id, project: a?.project.name ?? null, company: a?.companyName ?? null }
  })
}

// ---- the selection kept while the reviewer opens the sample ---------------

/** A spot check under way: the selection sent, the sample drawn from it, and the sampled applications opened from the list. */
export interface PendingSpotCheck {
  ids: string[]
  sample: string[]
  opened: string[]
}

/** Where a reviewer's spot check is kept: per tier and unit (a role switch or another unit starts afresh). */
export const pendingKey = (tier: string, unit: string | null | undefined) => `subsidy.bulk.${tier}.${unit ?? ''}`

/** The spot check kept under `key`; null when none, or when what is kept is not one. */
export function loadPending(store: Pick<Storage, 'getItem'>, key: string): PendingSpotCheck | null {
  let raw: unknown
  try {
    raw = JSON.parse(store.getItem(key) ?? 'null')
  } catch {
    return null
  }
  if (!raw || typeof raw !== 'object') return null
  const { ids, sample, opened } = raw as Record<string, unknown>
  if (!Array.isArray(ids) || !Array.isArray(sample)) return null
  const p = { ids: uniqueIds(ids), sample: uniqueIds(sample), opened: Array.isArray(opened) ? uniqueIds(opened) : [] }
  if (!p.ids.length || !p.sample.length) return null
  p.opened = p.opened.filter((id) => p.sample.includes(id))
  return p
}

/** Keeps `p` under `key`, or forgets it (null). */
export function savePending(store: Pick<Storage, 'setItem' | 'removeItem'>, key: string, p: PendingSpotCheck | null): void {
  try {
    if (p) store.setItem(key, JSON.stringify(p))
    else store.removeItem(key)
  } catch {
    // Storage full or refused: the reviewer re-selects, nothing worse.
  }
}

/**
 * The spot check after the server's 409 for the selection `ids`, naming
 * `remaining` still to open. For the same selection as `before` the sample
 * is the same, so the ones it no longer names have been opened (the
 * server's word, not the list's); for another selection it starts afresh.
 */
export function startPending(ids: readonly string[], remaining: readonly string[], before: PendingSpotCheck | null): PendingSpotCheck {
  const rest = uniqueIds(remaining)
  if (before && sameSelection(before, ids)) {
    const sample = uniqueIds([...before.sample, ...rest])
    return { ids: [...before.ids], sample, opened: sample.filter((id) => !rest.includes(id)) }
  }
  return { ids: uniqueIds(ids), sample: rest, opened: [] }
}

/** `p` with `id` opened (only a sampled id counts). */
export function markOpened(p: PendingSpotCheck, id: string): PendingSpotCheck {
  if (!p.sample.includes(id) || p.opened.includes(id)) return p
  return { ...p, opened: [...p.opened, id] }
}

/** Whether `ids` is the selection `p` was drawn for (in any order). */
export function sameSelection(p: PendingSpotCheck, ids: readonly string[]): boolean {
  const a = new Set(uniqueIds(ids))
  return a.size === p.ids.length && p.ids.every((id) => a.has(id))
}
