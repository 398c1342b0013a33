import { describe, expect, it } from 'vitest'
import type { ApplicationNoticeView, DocumentView, MyObjection, ObjectionView, PublicNoticeItem, Role, State, UnitSummary } from '../api/types'
import en from '../i18n/en'
import zhCN from '../i18n/zh-CN'
import {
  DEFAULT_DISTRICT,
  appendPage,
  canResolveObjections,
  districtFromQuery,
  districtOptions,
  evidenceCheck,
  evidenceChecking,
  evidenceHeld,
  evidenceSlotsLeft,
  evidenceTagType,
  groupByNoticeDate,
  isDistrictCode,
  lastNoticeDay,
  mayAddEvidence,
  mayObjectTo,
  myObjectionStatus,
  myObjectionTagType,
  noticeStatus,
  noticeWindow,
  waitingObjections,
} from './publicNotice'

type Tree = { [k: string]: string | Tree }
const lookup = (tree: Tree, key: string) => key.split('.').reduce<string | Tree | undefined>((t, k) => (typeof t === 'object' ? t[k] : undefined), tree)

/** An item published on `date` (China), 14:40 that day, for the policy's five days. */
function item(id: string, date: string, extra: Partial<PublicNoticeItem> = {}): PublicNoticeItem {
  const start = new Date(`${date}T14:40:00+08:00`)
  const end = new Date(`${date}T00:00:00+08:00`)
  end.setUTCDate(end.getUTCDate() + 5)
  return {
    applicationId: id,
    companyName: '深圳市安居物业服务有限公司',
    creditCode: '91440300MA5D000015',
    projectName: `项目${id}`,
    community: '440304001020',
    communityName: '南园社区居委会',
    subdistrictName: '南园街道',
    approvedArea: '800.00',
    approvedAmount: '800.00',
    noticeDate: date,
    startsAt: start.toISOString(),
    endsAt: end.toISOString(),
    onHold: false,
    ended: false,
    ...extra,
  }
}

describe('the window', () => {
  it('ends on the day before endsAt, China time', () => {
    // Published 6 December: 6–10 December; endsAt is 11 December 00:00 in Shenzhen.
    expect(lastNoticeDay('2026-12-10T16:00:00Z')).toBe('2026-12-10')
    expect(noticeWindow({ startsAt: '2026-12-06T06:37:48.849110016Z', endsAt: '2026-12-10T16:00:00Z', noticeDate: '2026-12-06' })).toEqual({
      from: '2026-12-06',
      to: '2026-12-10',
    })
  })

  it('counts days in China, not in UTC', () => {
    // Approved 7 December 01:30 China (still the 6th in UTC): 7–11 December.
    const w = noticeWindow({ startsAt: '2026-12-06T17:30:00Z', endsAt: '2026-12-11T16:00:00Z' })
    expect(w).toEqual({ from: '2026-12-07', to: '2026-12-11' })
  })

  it('takes the day that holds the last instant of a window ending other than at midnight', () => {
    expect(lastNoticeDay('2026-12-11T02:00:00Z')).toBe('2026-12-11')
  })

  it('reads a bad instant as a dash', () => {
    expect(lastNoticeDay('not a time')).toBe('—')
  })
})

describe('grouping by the day of publication', () => {
  it('keeps the days in the order they come, and each day its items in order', () => {
    const list = [item('a', '2026-12-06'), item('b', '2026-12-06'), item('c', '2026-12-07'), item('d', '2026-12-06')]
    const groups = groupByNoticeDate(list)
    expect(groups.map((g) => [g.date, g.items.map((i) => i.applicationId)])).toEqual([
      ['2026-12-06', ['a', 'b', 'd']],
      ['2026-12-07', ['c']],
    ])
    expect(groups.map((g) => [g.from, g.to])).toEqual([
      ['2026-12-06', '2026-12-10'],
      ['2026-12-07', '2026-12-11'],
    ])
  })

  it('gives a day the latest last day when its items differ', () => {
    const odd = item('b', '2026-12-06', { endsAt: '2026-12-11T16:00:00Z' })
    expect(groupByNoticeDate([item('a', '2026-12-06'), odd])[0].to).toBe('2026-12-11')
  })

  it('is empty for no items', () => {
    expect(groupByNoticeDate([])).toEqual([])
  })
})

describe('another page', () => {
  it('adds the new items after those listed, and a repeated one in place with its newer copy', () => {
    const listed = [item('a', '2026-12-06'), item('b', '2026-12-06')]
    const page = [item('b', '2026-12-06', { onHold: true }), item('c', '2026-12-07')]
    const out = appendPage(listed, page)
    expect(out.map((i) => [i.applicationId, i.onHold])).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
    ])
  })
})

describe('the district', () => {
  it('comes from ?district= when it is a code, else the default', () => {
    expect(districtFromQuery('440307')).toBe('440307')
    expect(districtFromQuery(['440305', '440306'])).toBe('440305')
    for (const bad of [undefined, null, '', '4403', '44030x', '4403040', ' 440304']) expect(districtFromQuery(bad)).toBe(DEFAULT_DISTRICT)
    expect(DEFAULT_DISTRICT).toBe('440304')
    expect(isDistrictCode('440304')).toBe(true)
    expect(isDistrictCode(440304)).toBe(false)
  })

  it('offers every district-level unit the list names, once each, in its order', () => {
    const units: UnitSummary[] = [
      { code: '440303', name: '罗湖区', level: 'district' },
      { code: '440304', name: '福田区', level: 'district' },
      { code: '440304', name: '福田区', level: 'district' },
      { code: '440300', name: '深圳市', level: 'city' },
      { code: '440399001', name: '某街道', level: 'subdistrict' },
      { code: 'x', name: '坏代码', level: 'district' },
    ]
    const list = districtOptions(units)
    expect(list).toEqual([
      { code: '440303', name: '罗湖区' },
      { code: '440304', name: '福田区' },
    ])
    expect(districtOptions(units, { code: '440304', name: '福田区' })).toEqual(list)
  })

  it('adds the district shown when the list names none (an older server, or none loaded yet)', () => {
    expect(districtOptions(undefined, { code: '440307', name: '龙岗区' })).toEqual([{ code: '440307', name: '龙岗区' }])
    expect(districtOptions([], null)).toEqual([])
    expect(districtOptions(null, { code: '440300x', name: '坏' })).toEqual([])
  })
})

describe('an ended window', () => {
  it('takes no objection; an open one does', () => {
    expect(mayObjectTo(item('a', '2026-12-06'))).toBe(true)
    expect(mayObjectTo(item('a', '2026-12-06', { ended: true }))).toBe(false)
    expect(mayObjectTo(item('a', '2026-12-06', { ended: true, onHold: true }))).toBe(false)
  })
})

describe('the notice on an application', () => {
  const objection = (seq: number, resolution: ObjectionView['resolution'] = null): ObjectionView => ({
    seq,
    reason: '该小区实际未提供服务',
    at: '2026-12-07T02:00:00Z',
    resolution,
    resolutionReason: resolution ? '已核实' : null,
    resolvedAt: resolution ? '2026-12-08T02:00:00Z' : null,
  })
  const notice = (objections: ObjectionView[]): ApplicationNoticeView => ({
    startsAt: '2026-12-06T06:37:48Z',
    endsAt: '2026-12-10T16:00:00Z',
    onHold: objections.some((o) => o.resolution === null),
    objections,
  })

  it('stands open, on hold, returned or closed', () => {
    expect(noticeStatus({ state: 'in_public_notice', notice: notice([]) })).toBe('open')
    expect(noticeStatus({ state: 'in_public_notice', notice: notice([objection(1, 'dismissed'), objection(2)]) })).toBe('on_hold')
    expect(noticeStatus({ state: 'in_public_notice', notice: notice([objection(1, 'dismissed')]) })).toBe('open')
    expect(noticeStatus({ state: 'pending_district', notice: notice([objection(1, 'returned_to_review')]) })).toBe('returned')
    expect(noticeStatus({ state: 'returned', notice: notice([objection(1, 'returned_to_review')]) })).toBe('returned')
    expect(noticeStatus({ state: 'approved', notice: notice([objection(1, 'dismissed')]) })).toBe('closed')
    expect(noticeStatus({ state: 'paid', notice: notice([]) })).toBe('closed')
    expect(noticeStatus({ state: 'approved' })).toBeNull()
  })

  it('is resolved by a district reviewer only, while an objection holds it in its notice', () => {
    const roles: Role[] = ['company', 'project_manager', 'community', 'subdistrict', 'district', 'finance', 'city', 'admin']
    const held = { state: 'in_public_notice' as State, notice: notice([objection(1)]) }
    expect(roles.filter((r) => canResolveObjections(r, held))).toEqual(['district'])
    expect(canResolveObjections('district', { state: 'in_public_notice', notice: notice([objection(1, 'dismissed')]) })).toBe(false)
    expect(canResolveObjections('district', { state: 'pending_district', notice: notice([objection(1)]) })).toBe(false)
    expect(canResolveObjections('district', { state: 'in_public_notice' })).toBe(false)
    expect(canResolveObjections(undefined, held)).toBe(false)
  })

  it('lists the objections still waiting', () => {
    expect(waitingObjections([objection(1, 'dismissed'), objection(2), objection(3)]).map((o) => o.seq)).toEqual([2, 3])
  })
})

describe('words', () => {

  it('name the new state, the four new timeline actions and the count in both languages', () => {
    const keys = [
      'states.in_public_notice',
      'actions.object',
      'actions.dismiss_objection',
      'actions.return_after_objection',
      'actions.close_notice',
      'stats.counts.inPublicNotice',
      'errors.notice_closed',
      'errors.already_objected',
    ]
    expect(keys.map((k) => lookup(zhCN as unknown as Tree, k))).toEqual([
      '公示中',
      '异议',
      '异议不成立',
      '异议成立，退回区级审核',
      '公示期满',
      '公示中',
      '公示期已结束，不再受理异议',
      '您已对该项公示提出过异议，不能重复提出',
    ])
    for (const k of keys) expect(typeof lookup(en as unknown as Tree, k), k).toBe('string')
    expect(lookup(en as unknown as Tree, 'states.in_public_notice')).toBe('In public notice')
  })

  it('name every status of the panel and every resolution', () => {
    for (const s of ['open', 'on_hold', 'returned', 'closed']) {
      expect(typeof lookup(zhCN as unknown as Tree, `publicNotice.panel.status.${s}`)).toBe('string')
    }
    for (const r of ['dismissed', 'returned_to_review']) {
      expect(typeof lookup(zhCN as unknown as Tree, `publicNotice.panel.resolution.${r}`)).toBe('string')
    }
  })
})

describe('我的异议', () => {
  let n = 0
  const doc = (status: string, refusal: string | null = null): DocumentView => ({
    id: `D${++n}`,
    kind: 'objection_evidence',
    fileName: `材料${n}.pdf`,
    contentType: 'application/pdf',
    size: 2000,
    status: status as DocumentView['status'],
    refusal,
    createdAt: '2026-12-06T07:00:00Z',
  })
  const mine = (documents: DocumentView[], extra: Partial<MyObjection> = {}): MyObjection => ({
    applicationId: 'A1',
    seq: 1,
    reason: '现场无物业服务',
    at: '2026-12-06T06:50:00Z',
    endsAt: '2026-12-10T16:00:00Z',
    ended: false,
    resolution: null,
    resolutionReason: null,
    resolvedAt: null,
    documents,
    ...extra,
  })

  it('stands waiting, dismissed or upheld; an outcome this client does not know reads as resolved', () => {
    expect(myObjectionStatus({ resolution: null })).toBe('pending')
    expect(myObjectionStatus({ resolution: 'dismissed' })).toBe('dismissed')
    expect(myObjectionStatus({ resolution: 'returned_to_review' })).toBe('returned_to_review')
    expect(myObjectionStatus({ resolution: 'withdrawn' as MyObjection['resolution'] })).toBe('resolved')
    expect(myObjectionTagType('pending')).toBe('warning')
    expect(myObjectionTagType('returned_to_review')).toBe('success')
  })

  it('says what the check made of each file; a status this client does not know is not taken for a verdict', () => {
    expect(['verified', 'refused', 'pending', 'quarantined'].map((s) => evidenceCheck(doc(s)))).toEqual(['verified', 'refused', 'pending', 'unknown'])
    expect((['verified', 'refused', 'pending', 'unknown'] as const).map(evidenceTagType)).toEqual(['success', 'danger', 'warning', 'default'])
    expect(evidenceChecking([doc('verified'), doc('refused')])).toBe(false)
    expect(evidenceChecking([doc('verified'), doc('pending')])).toBe(true)
  })

  it('counts every file but a refused one against the five: one not yet checked holds its place', () => {
    expect(evidenceHeld([])).toBe(0)
    expect(evidenceSlotsLeft([])).toBe(5)
    const files = [doc('verified'), doc('pending'), doc('refused', '文件内容是 image/png，与申报的 application/pdf 不符')]
    expect(evidenceHeld(files)).toBe(2)
    expect(evidenceSlotsLeft(files)).toBe(3)
    const five = [1, 2, 3, 4, 5].map(() => doc('verified'))
    expect(evidenceSlotsLeft(five)).toBe(0)
    expect(evidenceSlotsLeft([...five, doc('verified')]), 'never below 0').toBe(0)
    // Five held and two refused: full, whatever the refused ones.
    expect(evidenceSlotsLeft([...five, doc('refused'), doc('refused')])).toBe(0)
    // Four held and three refused: one place left.
    expect(evidenceSlotsLeft([...five.slice(1), doc('refused'), doc('refused'), doc('refused')])).toBe(1)
  })

  it('offers 上传异议材料 while the notice takes evidence and a place is left', () => {
    const five = [1, 2, 3, 4, 5].map(() => doc('verified'))
    expect(mayAddEvidence(mine([]))).toBe(true)
    expect(mayAddEvidence(mine([doc('verified'), doc('refused')]))).toBe(true)
    expect(mayAddEvidence(mine(five))).toBe(false)
    expect(mayAddEvidence(mine([...five.slice(1), doc('refused')]))).toBe(true)
    expect(mayAddEvidence(mine([], { ended: true })), 'the notice is over').toBe(false)
    expect(mayAddEvidence(mine([], { ended: true, resolution: 'returned_to_review' }))).toBe(false)
  })

  it('has words for every status, every check and the refusal, in both languages', () => {
    for (const tree of [zhCN, en] as unknown as Tree[]) {
      for (const s of ['pending', 'dismissed', 'returned_to_review', 'resolved']) {
        expect(typeof lookup(tree, `publicNotice.mine.statuses.${s}`), s).toBe('string')
      }
      for (const c of ['verified', 'refused', 'pending', 'unknown']) {
        expect(typeof lookup(tree, `publicNotice.mine.checks.${c}`), c).toBe('string')
      }
    }
    const zh = zhCN as unknown as Tree
    expect(
      ['open', 'none', 'statuses.pending', 'statuses.dismissed', 'statuses.returned_to_review', 'checks.verified', 'checks.pending', 'refusal', 'attach'].map(
        (k) => lookup(zh, `publicNotice.mine.${k}`),
      ),
    ).toEqual(['我的异议', '您尚未对此项提出异议', '处理中', '异议不成立', '异议成立，已退回审核', '已校验', '校验中', '未通过：{reason}', '上传异议材料'])
  })
})
