// The one way the client talks to the API: bearer token, JSON both ways,
// an Idempotency-Key on every mutation, and every failure turned into an
// ApiError carrying the API's error code (never raw JSON for the user).

import { config } from '../config'
import type {
  ApplicationDetail,
  MyObjection,
  NoticeList,
  NoticeView,
  ObjectionReceipt,
  PublicNoticeList,
  ResolveObjectionsRequest,
} from './types'

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly field?: string
  readonly currentVersion?: number
  readonly applicationId?: string
  readonly problems?: string[]
  /** The applications still to open in detail, with `spot_check_required` (抽查). */
  readonly sample?: string[]

  constructor(status: number, code: string, message: string, extra: Partial<ApiError> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.field = extra.field
    this.currentVersion = extra.currentVersion
    this.applicationId = extra.applicationId
    this.problems = extra.problems
    this.sample = extra.sample
  }
}

let token: string | null = null
let actingAs: string | null = null
let onUnauthenticated: () => void = () => {}
let onRefusedAccount: (code: string) => void = () => {}

/** The codes with which the staff directory refuses a signed-in member outright. */
export const ACCOUNT_REFUSALS = ['account_disabled', 'not_assigned']

export function setToken(t: string | null): void {
  token = t
}
/** Which of a staff member's assignments acts (`role:unit`), sent as X-Acting-As; null for the first. */
export function setActingAs(a: string | null): void {
  actingAs = a
}
export function onSignedOut(f: () => void): void {
  onUnauthenticated = f
}
/** Called when the directory refuses the signed-in member (disabled, or no longer assigned). */
export function onRefused(f: (code: string) => void): void {
  onRefusedAccount = f
}

/** A random key; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function newKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}

export function url(path: string, query?: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const qs = q.toString()
  return `${config.apiBase}/api/v1${path}${qs ? '?' + qs : ''}`
}

async function toError(res: Response): Promise<ApiError> {
  let body: unknown = null
  try {
    body = await res.json()
  } catch {
    // Not JSON (a proxy's error page): fall through to a generic code.
  }
  const e = (body as { error?: Record<string, unknown> } | null)?.error
  if (e && typeof e.code === 'string') {
    return new ApiError(res.status, e.code, String(e.message ?? ''), {
      field: typeof e.field === 'string' ? e.field : undefined,
      currentVersion: typeof e.currentVersion === 'number' ? e.currentVersion : undefined,
      applicationId: typeof e.applicationId === 'string' ? e.applicationId : undefined,
      problems: Array.isArray(e.problems) ? e.problems.map(String) : undefined,
      sample: Array.isArray(e.sample) ? e.sample.map(String) : undefined,
    })
  }
  return new ApiError(res.status, res.status >= 500 ? 'internal' : `http_${res.status}`, res.statusText)
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined | null>
  body?: unknown
  /** Send text as is (e.g. the bank's CSV), instead of JSON. */
  text?: string
  /** X-Acting-As for this request only, instead of the tab's (null: none). */
  actingAs?: string | null
  /** How the browser's HTTP cache may answer (a cacheable public read asked again after a change: 'no-cache'). */
  cache?: RequestCache
}

export async function request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (token) headers.Authorization = `Bearer ${token}`
  const acting = opts.actingAs === undefined ? actingAs : opts.actingAs
  if (token && acting) headers['X-Acting-As'] = acting
  let body: BodyInit | undefined
  if (opts.text !== undefined) {
    headers['Content-Type'] = 'text/csv; charset=utf-8'
    body = opts.text
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(opts.body)
  }
  // The bank's file may be larger than a keyed request may be; importing
  // it twice is harmless, so it goes without a key.
  if (method !== 'GET' && opts.text === undefined) headers['Idempotency-Key'] = newKey()
  let res: Response
  try {
    res = await fetch(url(path, opts.query), { method, headers, body, ...(opts.cache ? { cache: opts.cache } : {}) })
  } catch {
    throw new ApiError(0, 'network', 'network error')
  }
  if (res.status === 401 && token) onUnauthenticated()
  if (!res.ok) {
    const e = await toError(res)
    if (res.status === 403 && token && ACCOUNT_REFUSALS.includes(e.code)) onRefusedAccount(e.code)
    throw e
  }
  return res
}

export async function get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
  return (await request('GET', path, { query })).json() as Promise<T>
}
export async function post<T>(path: string, body?: unknown): Promise<T> {
  const res = await request('POST', path, { body: body ?? {} })
  return (res.status === 204 ? null : await res.json()) as T
}
export async function put<T>(path: string, body: unknown): Promise<T> {
  return (await request('PUT', path, { body })).json() as Promise<T>
}
export async function patch<T>(path: string, body: unknown): Promise<T> {
  return (await request('PATCH', path, { body })).json() as Promise<T>
}
export async function del(path: string): Promise<void> {
  await request('DELETE', path)
}
/** A DELETE that answers with the resource (e.g. a staff member, disabled). */
export async function delJson<T>(path: string): Promise<T> {
  return (await request('DELETE', path)).json() as Promise<T>
}

// ---- notifications (通知) ------------------------------------------------------

/** The caller's notices, newest first, a page at a time, with the unread count over all of them. */
export async function listNotices(query: { limit?: number; cursor?: string | null } = {}): Promise<NoticeList> {
  return get<NoticeList>('/notifications', query)
}
/** Marks one of the caller's notices read; answers with it (404 `not_found` for another reader's). */
export async function readNotice(id: string): Promise<NoticeView> {
  return post<NoticeView>(`/notifications/${encodeURIComponent(id)}/read`)
}

// ---- public notice (公示) and objections (异议) ------------------------------

/**
 * A district's public notice, oldest publication first, a page at a time.
 * Needs no sign-in (a token, when there is one, is sent and ignored). The
 * server lets browsers and CDNs keep it for a minute: `fresh` asks again
 * past the browser's copy, for a page that has just changed it.
 */
export async function listPublicNotices(
  query: { district: string; limit?: number; cursor?: string | null },
  { fresh = false }: { fresh?: boolean } = {},
): Promise<PublicNoticeList> {
  const res = await request('GET', '/public/notices', { query, cache: fresh ? 'no-cache' : undefined })
  return res.json() as Promise<PublicNoticeList>
}
/**
 * Objects (异议) to an application on a public notice: anyone signed in,
 * once, inside the window (409 `already_objected`, `notice_closed`).
 */
export async function objectToNotice(applicationId: string, reason: string): Promise<ObjectionReceipt> {
  return post<ObjectionReceipt>(`/public/notices/${encodeURIComponent(applicationId)}/objections`, { reason })
}
/**
 * The caller's own objection to an application's notice, its resolution,
 * and the evidence they attached with the content check's verdict (signed
 * in; 404 `not_found` if they made none).
 */
export async function myObjection(applicationId: string): Promise<MyObjection> {
  return get<MyObjection>(`/public/notices/${encodeURIComponent(applicationId)}/objections/mine`)
}
/** A district reviewer resolves the objections waiting: 异议不成立 (dismiss) or 退回审核 (return_to_review). */
export async function resolveObjections(applicationId: string, body: ResolveObjectionsRequest): Promise<ApplicationDetail> {
  return post<ApplicationDetail>(`/review/district/applications/${encodeURIComponent(applicationId)}/resolve-objections`, body)
}
