import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import type { DocumentKind, Role, State } from '../api/types'
import en from '../i18n/en'
import zhCN from '../i18n/zh-CN'
import {
  COMPANY_KINDS,
  DOCUMENT_KINDS,
  canAttachRecoveryEvidence,
  checkFile,
  contentTypeOf,
  countOf,
  documentComment,
  documentGroups,
  evidenceErrorKey,
  isCompanyKind,
  kindKey,
  mayOpenDocuments,
  sniffContentType,
} from './documents'

type Tree = { [k: string]: string | Tree }
const lookup = (tree: unknown, key: string) =>
  key.split('.').reduce<string | Tree | undefined>((t, k) => (typeof t === 'object' ? t[k] : undefined), tree as Tree)

const doc = (kind: string) => ({ kind: kind as DocumentKind })
const MB = 1024 * 1024

describe('the kinds', () => {
  it('are the company’s three, then the two kinds of evidence', () => {
    expect(COMPANY_KINDS).toEqual(['service_contract', 'area_proof', 'other'])
    expect(DOCUMENT_KINDS).toEqual(['service_contract', 'area_proof', 'other', 'objection_evidence', 'recovery_evidence'])
    expect(COMPANY_KINDS.filter(isCompanyKind)).toEqual(COMPANY_KINDS)
    expect(isCompanyKind('recovery_evidence')).toBe(false)
    expect(isCompanyKind('objection_evidence')).toBe(false)
  })

  it('have names in both languages, and one for a kind this client does not know', () => {
    expect(DOCUMENT_KINDS.map((k) => lookup(zhCN, kindKey(k)))).toEqual(['物业服务合同', '在管面积证明', '其他材料', '异议材料', '追回依据'])
    expect(lookup(en, kindKey('recovery_evidence'))).toBe('Recovery evidence')
    expect(lookup(en, kindKey('objection_evidence'))).toBe('Objection evidence')
    expect(kindKey('site_photo')).toBe('documents.kinds.unknown')
    expect(typeof lookup(zhCN, 'documents.kinds.unknown')).toBe('string')
  })
})

describe('the groups a list shows', () => {
  it('are the company’s kinds always, then the evidence present, 追回依据 left to the recovery', () => {
    const docs = [doc('recovery_evidence'), doc('other'), doc('objection_evidence'), doc('objection_evidence')]
    expect(documentGroups(docs, COMPANY_KINDS, { exclude: ['recovery_evidence'] })).toEqual([
      'service_contract',
      'area_proof',
      'other',
      'objection_evidence',
    ])
    // The company never gets objection evidence: no group for it.
    expect(documentGroups([doc('recovery_evidence')], COMPANY_KINDS, { exclude: ['recovery_evidence'] })).toEqual(COMPANY_KINDS)
  })

  it('are only those asked for without others, empty or not', () => {
    expect(documentGroups([doc('other')], ['recovery_evidence'], { others: false })).toEqual(['recovery_evidence'])
    expect(documentGroups([], ['recovery_evidence'], { others: false })).toEqual(['recovery_evidence'])
  })

  it('put a kind this client does not know last, named', () => {
    expect(documentGroups([doc('zz_new'), doc('aa_new'), doc('objection_evidence')], COMPANY_KINDS)).toEqual([
      ...COMPANY_KINDS,
      'objection_evidence',
      'aa_new',
      'zz_new',
    ])
  })

  it('count a kind', () => {
    expect(countOf([doc('recovery_evidence'), doc('other'), doc('recovery_evidence')], 'recovery_evidence')).toBe(2)
  })
})

describe('a chosen file', () => {
  it('takes its type from the browser, else from its name', () => {
    expect(contentTypeOf({ name: 'a.PDF', type: '' })).toBe('application/pdf')
    expect(contentTypeOf({ name: 'photo.jpg', type: '' })).toBe('image/jpeg')
    expect(contentTypeOf({ name: 'scan', type: 'image/png' })).toBe('image/png')
    expect(contentTypeOf({ name: 'a.docx', type: 'application/msword' })).toBe('application/msword')
  })

  it('is sent only when a PDF, JPEG or PNG, not empty and within the limit', () => {
    expect(checkFile({ name: 'a.pdf', type: 'application/pdf', size: 10 }, 10 * MB)).toEqual({ ok: true, contentType: 'application/pdf' })
    expect(checkFile({ name: 'a.docx', type: 'application/msword', size: 10 }, 10 * MB)).toEqual({ ok: false, error: 'bad_type' })
    expect(checkFile({ name: 'a.pdf', type: 'application/pdf', size: 0 }, 10 * MB)).toEqual({ ok: false, error: 'empty' })
    expect(checkFile({ name: 'a.png', type: 'image/png', size: 10 * MB + 1 }, 10 * MB)).toEqual({ ok: false, error: 'too_large' })
    expect(checkFile({ name: 'a.png', type: 'image/png', size: 10 * MB }, 10 * MB).ok).toBe(true)
    // No limit known: the server checks alone.
    expect(checkFile({ name: 'a.png', type: 'image/png', size: 99 * MB }, null).ok).toBe(true)
  })

  it('is what its first bytes say', () => {
    const bytes = (s: string | number[]) => (typeof s === 'string' ? new TextEncoder().encode(s) : new Uint8Array(s))
    expect(sniffContentType(bytes('%PDF-1.4\n'))).toBe('application/pdf')
    expect(sniffContentType(bytes([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg')
    expect(sniffContentType(bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe('image/png')
    expect(sniffContentType(bytes([0x89, 0x50, 0x4e, 0x47]))).toBeNull() // too short to tell
    expect(sniffContentType(bytes('not a pdf'))).toBeNull()
    expect(sniffContentType(new Uint8Array())).toBeNull()
  })
})

describe('who', () => {
  const roles: Role[] = ['company', 'project_manager', 'community', 'subdistrict', 'district', 'finance', 'city', 'admin']

  it('opens a document: the company and the reviewing and city staff (the server’s rule)', () => {
    expect(roles.filter((r) => mayOpenDocuments(r))).toEqual(['company', 'community', 'subdistrict', 'district', 'city'])
    expect(mayOpenDocuments(undefined)).toBe(false)
    // Finance confirms a recovery: its evidence, and nothing else.
    expect(mayOpenDocuments('finance', 'recovery_evidence')).toBe(true)
    expect(mayOpenDocuments('finance', 'service_contract')).toBe(false)
    expect(mayOpenDocuments('project_manager', 'recovery_evidence')).toBe(false)
  })

  it('attaches 追回依据: a district reviewer, to a paid application', () => {
    const paid = { state: 'paid' as State }
    expect(roles.filter((r) => canAttachRecoveryEvidence(r, paid))).toEqual(['district'])
    for (const state of ['approved', 'in_payment_batch', 'payment_failed', 'in_public_notice'] as State[]) {
      expect(canAttachRecoveryEvidence('district', { state })).toBe(false)
    }
    expect(canAttachRecoveryEvidence('district', null)).toBe(false)
  })
})

describe('a refused evidence upload', () => {
  const err = (status: number, code: string, field?: string) => new ApiError(status, code, '', { field })

  it('says why, for objection evidence', () => {
    expect(evidenceErrorKey('objection_evidence', err(404, 'not_found'))).toBe('documents.evidenceErrors.objection.notFound')
    expect(evidenceErrorKey('objection_evidence', err(409, 'notice_closed'))).toBe('documents.evidenceErrors.objection.closed')
    expect(evidenceErrorKey('objection_evidence', err(422, 'invalid_field', 'documents'))).toBe('documents.evidenceErrors.objection.tooMany')
    // Anything else is worded as any error is.
    expect(evidenceErrorKey('objection_evidence', err(422, 'invalid_field', 'size'))).toBeNull()
    expect(evidenceErrorKey('objection_evidence', err(413, 'document_too_large'))).toBeNull()
    expect(evidenceErrorKey('objection_evidence', new Error('x'))).toBeNull()
  })

  it('says why, for recovery evidence', () => {
    expect(evidenceErrorKey('recovery_evidence', err(404, 'not_found'))).toBe('documents.evidenceErrors.recovery.notFound')
    expect(evidenceErrorKey('recovery_evidence', err(409, 'wrong_state'))).toBe('documents.evidenceErrors.recovery.notPaid')
    expect(evidenceErrorKey('recovery_evidence', err(422, 'invalid_field', 'documents'))).toBe('documents.evidenceErrors.recovery.tooMany')
    expect(evidenceErrorKey('recovery_evidence', err(409, 'notice_closed'))).toBeNull()
  })

  it('is left to the usual words for the company’s kinds', () => {
    expect(evidenceErrorKey('service_contract', err(404, 'not_found'))).toBeNull()
  })

  it('has words in both languages, the limit named', () => {
    for (const who of ['objection', 'recovery']) {
      for (const k of who === 'objection' ? ['notFound', 'closed', 'tooMany'] : ['notFound', 'notPaid', 'tooMany']) {
        const key = `documents.evidenceErrors.${who}.${k}`
        expect(typeof lookup(zhCN, key), key).toBe('string')
        expect(typeof lookup(en, key), key).toBe('string')
      }
    }
    expect(lookup(zhCN, 'documents.evidenceErrors.objection.tooMany')).toContain('{max}')
  })
})

describe('the timeline', () => {
  const label = (k: string) => (lookup(zhCN, kindKey(k)) as string) ?? k

  it('names the kind of an uploaded or deleted document in words', () => {
    expect(documentComment('upload_document', 'objection_evidence 现场照片.jpg (2048 字节)', label)).toBe('异议材料 现场照片.jpg (2048 字节)')
    expect(documentComment('upload_document', 'recovery_evidence 核查记录.pdf (10 字节)', label)).toBe('追回依据 核查记录.pdf (10 字节)')
    expect(documentComment('delete_document', 'area_proof 面积 证明.png', label)).toBe('在管面积证明 面积 证明.png')
  })

  it('leaves every other comment as it is', () => {
    expect(documentComment('check_document', '内容已核验 v1', label)).toBe('内容已核验 v1')
    expect(documentComment('upload_document', 'site_photo a.jpg (1 字节)', label)).toBe('site_photo a.jpg (1 字节)')
    expect(documentComment('return', 'other 不符', label)).toBe('other 不符')
    expect(documentComment('upload_document', null, label)).toBeNull()
  })

  it('has words for the document actions', () => {
    expect(['upload_document', 'check_document', 'delete_document'].map((a) => lookup(zhCN, `actions.${a}`))).toEqual([
      '上传材料',
      '材料核验',
      '删除材料',
    ])
    for (const a of ['upload_document', 'check_document', 'delete_document']) expect(typeof lookup(en, `actions.${a}`)).toBe('string')
    expect(['pending', 'verified', 'refused', 'deleted'].map((st) => lookup(zhCN, `documents.status.${st}`))).toEqual(['上传中', '已校验', '已拒收', '已删除'])
    expect(lookup(en, 'documents.status.deleted')).toBe('Deleted')
    expect(lookup(zhCN, 'publicNotice.timeline.objector')).toBe('异议人')
    expect(lookup(en, 'publicNotice.timeline.objector')).toBe('Objector')
    expect(lookup(zhCN, 'publicNotice.ended')).toBe('公示期满')
    expect(lookup(en, 'publicNotice.ended')).toBe('Window ended')
  })
})
