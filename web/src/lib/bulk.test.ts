// 批量通过: one request of 1 to 100 distinct applications (id and version
// only), an answer read per item in the order sent, and the spot check's
// sample named from the inbox and kept while the reviewer opens it.

import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import {
  MAX_BULK,
  buildBulkRequest,
  loadPending,
  markOpened,
  pendingKey,
  sameSelection,
  sampleRows,
  savePending,
  spotCheckSample,
  startPending,
  summarise,
  type Named,
} from './bulk'

const app = (id: string, name = `项目${id}`, company = `企业${id}`): Named => ({ id, companyName: company, project: { name } })
const many = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `a${i}`, version: i }))

describe('buildBulkRequest', () => {
  it('sends each application’s id and version, in the order chosen, and nothing else', () => {
    const chosen = [
      { id: 'b', version: 3, approvedArea: '1.00', project: { name: 'x' } },
      { id: 'a', version: 0 },
    ]
    expect(buildBulkRequest(chosen)).toEqual({ ok: true, body: { items: [{ id: 'b', version: 3 }, { id: 'a', version: 0 }] } })
  })

  it('sends 1 and 100', () => {
    expect(buildBulkRequest(many(1))).toMatchObject({ ok: true, body: { items: [{ id: 'a0', version: 0 }] } })
    const r = buildBulkRequest(many(MAX_BULK))
    expect(r.ok && r.body.items.length).toBe(100)
  })

  it('refuses none, and more than 100, before sending', () => {
    expect(MAX_BULK).toBe(100)
    expect(buildBulkRequest([])).toEqual({ ok: false, refusal: { kind: 'empty' } })
    expect(buildBulkRequest(many(101))).toEqual({ ok: false, refusal: { kind: 'too_many', n: 101, max: 100 } })
    expect(buildBulkRequest(many(250))).toEqual({ ok: false, refusal: { kind: 'too_many', n: 250, max: 100 } })
  })

  it('refuses a repeated id', () => {
    expect(buildBulkRequest([{ id: 'a', version: 1 }, { id: 'b', version: 1 }, { id: 'a', version: 2 }])).toEqual({
      ok: false,
      refusal: { kind: 'duplicate', id: 'a' },
    })
  })

  it('refuses an item without an id or a whole, non-negative version', () => {
    const bad = [
      { id: '', version: 1 },
      { id: '  ', version: 1 },
      { id: 'a', version: -1 },
      { id: 'a', version: 1.5 },
      { id: 'a', version: Number.NaN },
      { id: 'a', version: '3' as unknown as number },
      { id: 7 as unknown as string, version: 1 },
      null as unknown as { id: string; version: number },
    ]
    for (const b of bad) expect(buildBulkRequest([{ id: 'ok', version: 1 }, b])).toEqual({ ok: false, refusal: { kind: 'bad_item', index: 1 } })
    expect(buildBulkRequest(null as unknown as [])).toEqual({ ok: false, refusal: { kind: 'empty' } })
  })
})

describe('summarise', () => {
  const sent = [
    { id: 'a', version: 1 },
    { id: 'b', version: 1 },
    { id: 'c', version: 1 },
    { id: 'd', version: 1 },
    { id: 'e', version: 1 },
  ]
  const items = [app('a', '南园花园'), app('b', '碧海湾'), app('c'), app('d')]

  it('counts each outcome and names the failures, in the order sent', () => {
    const s = summarise(
      sent,
      {
        results: [
          { id: 'a', outcome: 'approved' },
          { id: 'b', outcome: 'conflict', code: 'version_conflict', message: 'stale' },
          { id: 'c', outcome: 'wrong_state', code: 'wrong_state' },
          { id: 'd', outcome: 'refused', code: 'missing_documents' },
          { id: 'e', outcome: 'not_found', code: 'not_found' },
        ],
        approved: 1,
        spotCheck: null,
      },
      items,
    )
    expect(s.approved).toBe(1)
    expect(s.counts).toEqual({ approved: 1, conflict: 1, wrong_state: 1, not_found: 1, refused: 1, unknown: 0 })
    expect(s.failures).toEqual([
      { id: 'b', name: '碧海湾', outcome: 'conflict', code: 'version_conflict', message: 'stale' },
      { id: 'c', name: '项目c', outcome: 'wrong_state', code: 'wrong_state' },
      { id: 'd', name: '项目d', outcome: 'refused', code: 'missing_documents' },
      // Not in the inbox: by its id.
      { id: 'e', name: 'e', outcome: 'not_found', code: 'not_found' },
    ])
  })

  it('all approved: no failures', () => {
    const s = summarise(sent.slice(0, 2), { results: [{ id: 'b', outcome: 'approved' }, { id: 'a', outcome: 'approved' }] }, items)
    expect(s).toEqual({ approved: 2, failures: [], counts: { approved: 2, conflict: 0, wrong_state: 0, not_found: 0, refused: 0, unknown: 0 } })
  })

  it('reads an outcome it does not know as refused, and an item left out as unknown', () => {
    const s = summarise(sent.slice(0, 3), { results: [{ id: 'a', outcome: 'exploded' }, { id: 'b', outcome: 'approved' }] }, items)
    expect(s.approved).toBe(1)
    expect(s.failures.map((f) => [f.id, f.outcome])).toEqual([
      ['a', 'refused'],
      ['c', 'unknown'],
    ])
  })

  it('ignores results for ids not sent, repeated results and junk', () => {
    const s = summarise(
      sent.slice(0, 1),
      { results: [null, 'a', { outcome: 'approved' }, { id: 'zzz', outcome: 'approved' }, { id: 'a', outcome: 'conflict' }, { id: 'a', outcome: 'approved' }] },
      items,
    )
    expect(s.approved).toBe(0)
    expect(s.failures).toEqual([{ id: 'a', name: '南园花园', outcome: 'conflict' }])
  })

  it('an answer without results: every item unknown, none approved', () => {
    for (const answer of [null, undefined, {}, { results: 'no' }, 'text']) {
      const s = summarise(sent.slice(0, 2), answer, items)
      expect(s.approved).toBe(0)
      expect(s.counts.unknown).toBe(2)
    }
  })
})

describe('spotCheckSample', () => {
  it('is the sample of a 409 spot_check_required', () => {
    const e = new ApiError(409, 'spot_check_required', 'open them', { sample: ['x', 'y'] })
    expect(spotCheckSample(e)).toEqual(['x', 'y'])
  })

  it('drops repeated and empty ids, and is empty without a sample', () => {
    expect(spotCheckSample(new ApiError(409, 'spot_check_required', '', { sample: ['x', '', 'x', 'y'] }))).toEqual(['x', 'y'])
    expect(spotCheckSample(new ApiError(409, 'spot_check_required', ''))).toEqual([])
  })

  it('is null for any other failure', () => {
    expect(spotCheckSample(new ApiError(409, 'version_conflict', '', { sample: ['x'] }))).toBeNull()
    expect(spotCheckSample(new ApiError(422, 'invalid_field', '', { field: 'items' }))).toBeNull()
    expect(spotCheckSample(new Error('spot_check_required'))).toBeNull()
    expect(spotCheckSample({ code: 'spot_check_required', sample: ['x'] })).toBeNull()
    expect(spotCheckSample(null)).toBeNull()
  })
})

describe('sampleRows', () => {
  it('names each sampled application from the inbox, in the sample’s order; one not listed by its id', () => {
    const items = [app('a', '南园花园', '安居物业'), app('b', '碧海湾', '海湾物业')]
    expect(sampleRows(['b', 'gone', 'a'], items)).toEqual([
      { id: 'b', project: '碧海湾', company: '海湾物业' },
      { id: 'gone', project: null, company: null },
      { id: 'a', project: '南园花园', company: '安居物业' },
    ])
  })

  it('shows each id once, and none for an empty sample', () => {
    expect(sampleRows(['a', 'a', ''], [app('a')]).map((r) => r.id)).toEqual(['a'])
    expect(sampleRows([], [app('a')])).toEqual([])
  })
})

/** sessionStorage's part the inbox uses, in memory. */
function memory(initial: Record<string, string> = {}) {
  const m = new Map(Object.entries(initial))
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    m,
  }
}

describe('the spot check kept while the reviewer opens the sample', () => {
  const key = pendingKey('community', '440304001020')

  it('is kept per tier and unit', () => {
    expect(key).toBe('subsidy.bulk.community.440304001020')
    expect(pendingKey('district', null)).toBe('subsidy.bulk.district.')
  })

  it('round-trips through storage, and is forgotten', () => {
    const store = memory()
    const p = startPending(['a', 'b', 'c'], ['b'], null)
    expect(p).toEqual({ ids: ['a', 'b', 'c'], sample: ['b'], opened: [] })
    savePending(store, key, markOpened(p, 'b'))
    expect(loadPending(store, key)).toEqual({ ids: ['a', 'b', 'c'], sample: ['b'], opened: ['b'] })
    expect(loadPending(store, pendingKey('subdistrict', '440304001'))).toBeNull()
    savePending(store, key, null)
    expect(loadPending(store, key)).toBeNull()
  })

  it('reads nothing from junk in storage', () => {
    for (const v of ['', 'not json', 'null', '3', '[]', '{}', '{"ids":["a"]}', '{"ids":[],"sample":["a"]}', '{"ids":["a"],"sample":[]}', '{"ids":"a","sample":["a"]}']) {
      expect(loadPending(memory({ [key]: v }), key)).toBeNull()
    }
    // Opened ids outside the sample, and junk ids, are dropped.
    expect(loadPending(memory({ [key]: '{"ids":["a",1,"a"],"sample":["a"],"opened":["zz","a",null]}' }), key)).toEqual({
      ids: ['a'],
      sample: ['a'],
      opened: ['a'],
    })
  })

  it('survives a storage that refuses to write', () => {
    const store = { setItem: () => { throw new Error('quota') }, removeItem: () => { throw new Error('no') } }
    expect(() => savePending(store, key, startPending(['a'], ['a'], null))).not.toThrow()
    expect(() => savePending(store, key, null)).not.toThrow()
  })

  it('marks only a sampled id opened, once', () => {
    const p = startPending(['a', 'b', 'c'], ['a', 'c'], null)
    expect(markOpened(p, 'b')).toBe(p)
    const q = markOpened(markOpened(p, 'c'), 'c')
    expect(q.opened).toEqual(['c'])
    expect(p.opened).toEqual([])
  })

  it('for the same selection again, keeps the whole sample: the ones the server no longer names were opened', () => {
    const first = startPending(['a', 'b', 'c', 'd'], ['b', 'd'], null)
    // The reviewer clicked b and d, but the server records only d as opened.
    const clicked = markOpened(markOpened(first, 'b'), 'd')
    const again = startPending(['d', 'c', 'b', 'a'], ['b'], clicked)
    expect(again).toEqual({ ids: ['a', 'b', 'c', 'd'], sample: ['b', 'd'], opened: ['d'] })
  })

  it('for another selection, starts afresh', () => {
    const first = markOpened(startPending(['a', 'b', 'c'], ['b'], null), 'b')
    expect(startPending(['a', 'b'], ['a'], first)).toEqual({ ids: ['a', 'b'], sample: ['a'], opened: [] })
    expect(startPending(['a', 'b', 'c', 'e'], ['e'], first)).toEqual({ ids: ['a', 'b', 'c', 'e'], sample: ['e'], opened: [] })
  })

  it('tells the same selection in any order', () => {
    const p = startPending(['a', 'b', 'c'], ['a'], null)
    expect(sameSelection(p, ['c', 'a', 'b'])).toBe(true)
    expect(sameSelection(p, ['c', 'a', 'b', 'a'])).toBe(true)
    expect(sameSelection(p, ['a', 'b'])).toBe(false)
    expect(sameSelection(p, ['a', 'b', 'd'])).toBe(false)
    expect(sameSelection(p, [])).toBe(false)
  })
})
