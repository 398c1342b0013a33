// Every notice the server sends reads as a sentence in both languages, with
// every value it carries; a kind the client does not know yet still reads.

import { afterEach, describe, expect, it } from 'vitest'
import en from '../i18n/en'
import zhCN from '../i18n/zh-CN'
import { i18n } from '../i18n'
import { NOTICE_KINDS, NOTICE_PARAMS, isKnownKind, noticeTarget, noticeText } from './notices'

type Tree = { [k: string]: string | Tree }
const placeholders = (s: string) => [...new Set([...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort()
const locales = { 'zh-CN': zhCN, en } as unknown as Record<string, { notices: { titles: Tree; kinds: Tree; fallback: Tree } }>

/** The kinds the Rust side words notices with, read from its source (`NoticeKind::as_str`). */
const rustSources = import.meta.glob<string>('../../../core/src/notify/mod.rs', { query: '?raw', import: 'default', eager: true })
function serverKinds(): string[] {
  const kinds = new Set<string>()
  for (const text of Object.values(rustSources)) {
    const src = text.split('#[cfg(test)]')[0]
    for (const m of src.matchAll(/NoticeKind::\w+ => "([a-z_]+)"/g)) kinds.add(m[1])
  }
  return [...kinds].sort()
}

afterEach(() => {
  i18n.global.locale.value = 'zh-CN'
})

describe('notice wording', () => {
  it('words every kind in both languages, using each of its values and no other', () => {
    for (const [lang, messages] of Object.entries(locales)) {
      for (const kind of NOTICE_KINDS) {
        const title = messages.notices.titles[kind]
        const body = messages.notices.kinds[kind]
        expect(typeof title, `${lang} notices.titles.${kind}`).toBe('string')
        expect(typeof body, `${lang} notices.kinds.${kind}`).toBe('string')
        expect(placeholders(body as string), `${lang} notices.kinds.${kind}`).toEqual([...NOTICE_PARAMS[kind]].sort())
        expect(placeholders(title as string), `${lang} notices.titles.${kind}`).toEqual([])
      }
      // Nothing worded for a kind the client does not list.
      expect(Object.keys(messages.notices.kinds).sort()).toEqual([...NOTICE_KINDS].sort())
      expect(Object.keys(messages.notices.titles).sort()).toEqual([...NOTICE_KINDS, 'fallback'].sort())
    }
  })

  it('words every kind the server sends', () => {
    const kinds = serverKinds()
    // The scan found the kinds (a change of style in the Rust source must not
    // make this test pass vacuously).
    expect(kinds).toContain('area_awaiting_confirmation')
    expect(kinds.length).toBeGreaterThanOrEqual(9)
    expect(kinds.filter((k) => !isKnownKind(k))).toEqual([])
  })

  it('fills in the values as the screens show them', () => {
    const awaiting = noticeText({
      kind: 'area_awaiting_confirmation',
      params: { project: '南园花园', area: '52345.67', company: '深圳市安居物业服务有限公司' },
    })
    expect(awaiting).toEqual({
      title: '待确认项目面积',
      body: '深圳市安居物业服务有限公司申报「南园花园」补助，申报面积 52,345.67 m²，请进行项目面积确认。',
    })
    const returned = noticeText({ kind: 'returned', params: { project: '南园花园', reason: '请补充面积证明。', by: 'subdistrict' } })
    expect(returned.body).toBe('「南园花园」的申请被街道（复核）退回补正：请补充面积证明。请按意见修改后重新提交。')
    expect(noticeText({ kind: 'paid', params: { project: '南园花园', amount: '1500.00' } }).body).toBe('「南园花园」的补助 ¥1,500.00 已拨付至收款账户。')
    const failed = noticeText({ kind: 'payment_failed', params: { project: '南园花园', reason: '账户已销户' } }).body
    expect(failed).toMatch(/账户已销户。请到「企业」→ 企业信息核对收款账户，如有误请修改；经区级核验后将重新拨付/)

    i18n.global.locale.value = 'en'
    expect(noticeText({ kind: 'rejected', params: { project: 'Nanyuan', reason: 'Duplicate claim', by: 'district' } }).body).toBe(
      'District (audit) rejected the application for Nanyuan: Duplicate claim.',
    )
    expect(noticeText({ kind: 'approved', params: { project: 'Nanyuan', amount: '50000.00' } }).body).toMatch(/¥50,000.00/)
    i18n.global.locale.value = 'zh-CN'
    expect(noticeText({ kind: 'urged', params: { project: '南园花园', company: '深圳市安居物业服务有限公司' } })).toEqual({
      title: '企业催办',
      body: '深圳市安居物业服务有限公司催办「南园花园」：该申请已超过办理时限，请尽快办理。',
    })
  })

  it('words the daily escalation (督办) with the tier below by its role name', () => {
    const params = { date: '2024-03-18', tier: 'community', count: '2', days: '3' }
    expect(noticeText({ kind: 'overdue_below', params })).toEqual({
      title: '下级超期督办',
      body: '2024-03-18 下级社区（初审）有 2 件申请超过办理时限 3 个工作日以上，请督办。',
    })
    i18n.global.locale.value = 'en'
    expect(noticeText({ kind: 'overdue_below', params: { ...params, tier: 'subdistrict', count: '1' } }).body).toBe(
      '2024-03-18, Subdistrict (re-review) below you: 1 past their time limit by more than 3 working days; please follow them up (督办).',
    )
  })

  it('opens the application, or for the escalation the 下级超期 list', () => {
    expect(noticeTarget({ kind: 'urged', applicationId: 'app 1' })).toBe('/applications/app%201')
    expect(noticeTarget({ kind: 'overdue_below', applicationId: null })).toBe('/review/inbox?view=below')
    expect(noticeTarget({ kind: 'review_digest', applicationId: null })).toBeNull()
    expect(noticeTarget({ kind: 'something_new', applicationId: null })).toBeNull()
    // Finance's 追回待确认 and the district's 异议待处理 open the application they are about.
    expect(noticeTarget({ kind: 'recovery_opened', applicationId: '01JREC' })).toBe('/applications/01JREC')
    expect(noticeTarget({ kind: 'objection_filed', applicationId: '01JOBJ' })).toBe('/applications/01JOBJ')
  })

  it("opens finance's notices at their batch, and words them with the amount in yuan", () => {
    const params = { batch: '01J BATCH', lines: '2', amount: '12345.50' }
    expect(noticeTarget({ kind: 'batch_awaiting_release', applicationId: null, params })).toBe(
      '/finance/batches/01J%20BATCH',
    )
    expect(noticeTarget({ kind: 'results_failed', applicationId: null, params: { batch: ' ' } })).toBeNull()
    expect(noticeTarget({ kind: 'results_failed', applicationId: null })).toBeNull()
    expect(noticeText({ kind: 'batch_awaiting_release', params }).body).toBe(
      '支付批次 01J BATCH（2 笔，合计 ¥12,345.50）已生成，待另一名财务人员复核后发放。',
    )
  })

  it('keeps a value as text, and shows a missing one as a dash', () => {
    const body = noticeText({ kind: 'area_disputed', params: { project: '<b>花园</b>', reason: '{area} @:x | y' } }).body
    expect(body).toBe('项目经理对「<b>花园</b>」的申报面积有异议：{area} @:x | y。请修改后重新提交。')
    expect(noticeText({ kind: 'approved', params: { project: '南园花园' } }).body).toBe('「南园花园」的申请已通过区级审核，核定补助金额 —。')
    expect(noticeText({ kind: 'returned', params: { project: 'P', reason: 'r', by: 'someone_new' } }).body).toMatch(/被someone_new退回补正/)
  })

  it('words a kind it does not know with a generic line, in both languages', () => {
    expect(isKnownKind('reviewer_digest')).toBe(false)
    expect(noticeText({ kind: 'reviewer_digest', params: { project: '南园花园', count: '3' } })).toEqual({
      title: '新通知',
      body: '「南园花园」有新的办理动态，请查看。',
    })
    expect(noticeText({ kind: 'digest', params: {} })).toEqual({ title: '新通知', body: '您有一条新通知。' })
    expect(() => noticeText({ kind: 'toString', params: undefined as unknown as Record<string, string> })).not.toThrow()
    i18n.global.locale.value = 'en'
    expect(noticeText({ kind: 'reviewer_digest', params: { project: 'Nanyuan' } })).toEqual({
      title: 'New notice',
      body: 'There is news about Nanyuan; open it to see.',
    })
  })
})
