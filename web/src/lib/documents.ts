// Documents (证明材料) on an application, as the screens arrange them. Who
// may attach a kind, and when, is the server's (core/src/documents):
//
// - the company's kinds (物业服务合同, 在管面积证明, 其他材料), to its own
//   draft or returned application, at most 20 in all; only these can be
//   deleted, and only by the company;
// - 追回依据 (recovery_evidence): a district reviewer's, to a paid
//   application of their jurisdiction, before or after opening the
//   recovery, at most 10; everyone who sees the documents sees them, the
//   company included;
// - 异议材料 (objection_evidence): whoever objected to the application's
//   public notice, inside the window and after objecting, at most 5 each;
//   staff see them, the company never does (the server leaves them out).
//
// These helpers only keep the screens from sending what the server would
// refuse and word its refusals; the server decides.

import { ApiError } from '../api/client'
import type { ApplicationView, DocumentKind, DocumentView, Role } from '../api/types'

/** The company's own kinds, in the order the application page lists them. */
export const COMPANY_KINDS: readonly DocumentKind[] = ['service_contract', 'area_proof', 'other']
/** Every kind this client knows, in the order the page lists them. */
export const DOCUMENT_KINDS: readonly DocumentKind[] = [...COMPANY_KINDS, 'objection_evidence', 'recovery_evidence']

/** At most this many 追回依据 per application (the server's MAX_RECOVERY_DOCUMENTS). */
export const MAX_RECOVERY_EVIDENCE = 10
/** At most this many 异议材料 per objector and application (the server's MAX_OBJECTION_DOCUMENTS). */
export const MAX_OBJECTION_EVIDENCE = 5

export const ACCEPTED_TYPES = ['application/pdf', 'image/jpeg', 'image/png'] as const
export type AcceptedType = (typeof ACCEPTED_TYPES)[number]
/** For `<input type="file" accept=…>`. */
export const ACCEPT = ACCEPTED_TYPES.join(',')
const BY_EXTENSION: Record<string, AcceptedType> = { pdf: 'application/pdf', jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png' }

export function isCompanyKind(kind: string): boolean {
  return (COMPANY_KINDS as readonly string[]).includes(kind)
}

/** The i18n key of a kind's name; a kind this client does not know yet reads as 其他类型材料. */
export function kindKey(kind: string): string {
  return (DOCUMENT_KINDS as readonly string[]).includes(kind) ? `documents.kinds.${kind}` : 'documents.kinds.unknown'
}

/**
 * The type to declare for a file: the browser's when it is one of the
 * three, else by the name's extension (some phones send none), else the
 * browser's as it is (refused before anything is sent).
 */
export function contentTypeOf(file: { name: string; type: string }): string {
  if ((ACCEPTED_TYPES as readonly string[]).includes(file.type)) return file.type
  const ext = file.name.split('.').pop()?.toLowerCase() ?? ''
  return BY_EXTENSION[ext] ?? file.type
}

export type FileCheck = { ok: true; contentType: AcceptedType } | { ok: false; error: 'bad_type' | 'empty' | 'too_large' }

/**
 * Whether a chosen file may be sent: a PDF, JPEG or PNG (by type or
 * name), not empty, and no larger than `maxBytes` (the policy's; none
 * known: the server checks alone).
 */
export function checkFile(file: { name: string; type: string; size: number }, maxBytes?: number | null): FileCheck {
  const contentType = contentTypeOf(file)
  if (!(ACCEPTED_TYPES as readonly string[]).includes(contentType)) return { ok: false, error: 'bad_type' }
  if (file.size === 0) return { ok: false, error: 'empty' }
  if (maxBytes != null && file.size > maxBytes) return { ok: false, error: 'too_large' }
  return { ok: true, contentType: contentType as AcceptedType }
}

/**
 * What a file's first bytes say it is, as the server reads them when the
 * bytes arrive (a PDF's `%PDF-`, JPEG's FF D8 FF, PNG's signature); null
 * for anything else.
 */
export function sniffContentType(head: Uint8Array): AcceptedType | null {
  const starts = (sig: number[]) => head.length >= sig.length && sig.every((b, i) => head[i] === b)
  if (starts([0x25, 0x50, 0x44, 0x46, 0x2d])) return 'application/pdf'
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  return null
}

/**
 * The kinds a documents list shows, in order: `always` (even with no
 * document, to upload to), then (with `others`) every other kind that has
 * a document, but none of `exclude` (listed elsewhere on the page: 追回依据
 * with the recovery). A kind this client does not know comes last.
 */
export function documentGroups(
  docs: readonly Pick<DocumentView, 'kind'>[],
  always: readonly string[],
  { exclude = [], others = true }: { exclude?: readonly string[]; others?: boolean } = {},
): string[] {
  const out = always.filter((k) => !exclude.includes(k))
  if (!others) return out
  const present = new Set(docs.map((d) => d.kind as string))
  const unknown = [...present].filter((k) => !(DOCUMENT_KINDS as readonly string[]).includes(k)).sort()
  for (const k of [...DOCUMENT_KINDS, ...unknown]) if (present.has(k) && !out.includes(k) && !exclude.includes(k)) out.push(k)
  return out
}

/**
 * Who may open a document (the server's download rule): the company and
 * the reviewing and city staff; a project manager sees the list only, and
 * finance opens a recovery's evidence (追回依据) and nothing else.
 */
export function mayOpenDocuments(role: Role | null | undefined, kind?: string): boolean {
  if (role === 'finance') return kind === 'recovery_evidence'
  return !!role && role !== 'project_manager' && role !== 'admin'
}

/** A district reviewer attaches 追回依据 to a paid application (of their jurisdiction: the server checks). */
export function canAttachRecoveryEvidence(role: Role | null | undefined, app: Pick<ApplicationView, 'state'> | null | undefined): boolean {
  return role === 'district' && app?.state === 'paid'
}

/** How many of a kind are counted against its limit (a refused one counts until deleted; none can be). */
export function countOf(docs: readonly Pick<DocumentView, 'kind'>[], kind: DocumentKind): number {
  return docs.filter((d) => d.kind === kind).length
}

/**
 * A refusal of an evidence upload, in words that say why (the i18n key
 * under `documents.evidenceErrors`); null for anything else, which the
 * page words as it words any error.
 *
 * 异议材料: 404 before objecting (or not the objector); 409 `notice_closed`
 * after the window; 422 `invalid_field` on `documents` at the limit.
 * 追回依据: 404 not a district reviewer of the application; 409
 * `wrong_state` not paid; 422 at the limit.
 */
export function evidenceErrorKey(kind: DocumentKind, e: unknown): string | null {
  if (!(e instanceof ApiError)) return null
  const prefix = kind === 'objection_evidence' ? 'documents.evidenceErrors.objection' : kind === 'recovery_evidence' ? 'documents.evidenceErrors.recovery' : null
  if (!prefix) return null
  if (e.code === 'invalid_field' && e.field === 'documents') return `${prefix}.tooMany`
  if (e.status === 404 || e.code === 'not_found') return `${prefix}.notFound`
  if (kind === 'objection_evidence' && e.code === 'notice_closed') return `${prefix}.closed`
  if (kind === 'recovery_evidence' && e.code === 'wrong_state') return `${prefix}.notPaid`
  return null
}

/**
 * A document entry's comment on the timeline with the kind named rather
 * than coded: the server writes `<kind> <file name> (<n> 字节)` for an
 * upload and `<kind> <file name>` for a removal.
 */
export function documentComment(action: string, comment: string | null, label: (kind: string) => string): string | null {
  if (!comment || (action !== 'upload_document' && action !== 'delete_document')) return comment
  const m = /^([a-z_]+) (.*)$/s.exec(comment)
  if (!m || !(DOCUMENT_KINDS as readonly string[]).includes(m[1])) return comment
  return `${label(m[1])} ${m[2]}`
}
