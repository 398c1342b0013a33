// 批量通过 with a spot check (抽查), through the screens. company-a applies
// for 12 projects in 南园社区 and pm-a confirms each, so all 12 wait at
// 社区初审. community-nanyuan selects all 12 in the inbox and approves them
// in bulk: more than the demo policy's spotCheckMinimum (10), so the server
// draws a sample of 10% (two) and approves nothing until the reviewer has
// opened each sampled application. The screen names the sample the API
// names for the same selection. The reviewer opens the first from the list
// and comes back: the selection is kept, the list shows it opened, and the
// server now asks for the second alone. Once both are opened, approving the
// same 12 again approves all 12: they wait at 街道复核. The API refuses
// 101 items, a repeated id, none, and an area lowered in bulk.
//
// Checking the states goes through company-a (or the inbox list), never
// the reviewer's GET of an application: that GET is what records it opened.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, confirmDialog, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, until, uploadVia } from './lib.mjs'

let server
let browser

before(async () => {
  server = await startServer()
  browser = await launch()
})
afterEach(async (t) => keepFailedScreens(t.name))
after(async () => {
  await browser?.close()
  await server?.stop()
})

const COMMUNITY = '440304001020'
const N = 12
/** id → project name, of the applications made. */
const made = new Map()

/** POSTs an action with the application's current version; returns the application after it. */
async function act(call, id, path) {
  const { version } = (await call(`/applications/${id}`)).body
  const r = await call(path.replace('{id}', id), { method: 'POST', body: { version } })
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`)
  return r.body
}

/** A new project of company-a's in 南园社区, applied for, submitted and confirmed by pm-a: it waits at 初审. */
async function atCommunity(i) {
  const company = await api(server.url, 'company-a')
  const pm = await api(server.url, 'pm-a')
  const name = `批量苑${String(i).padStart(2, '0')}号`
  const project = await company('/projects', {
    method: 'POST',
    body: { name, address: `南园路 ${i} 号`, community: COMMUNITY, managedArea: '1200.00', managerName: '王项目经理', managerPhone: '13800138001' },
  })
  assert.equal(project.status, 201, JSON.stringify(project.body))
  const draft = await company('/applications', { method: 'POST', body: { projectId: project.body.id } })
  assert.equal(draft.status, 201, JSON.stringify(draft.body))
  const id = draft.body.id
  await uploadVia(company, id, 'service_contract', '物业服务合同.pdf', 'application/pdf', pdf())
  await uploadVia(company, id, 'area_proof', '面积证明.png', 'image/png', png())
  await until('the documents to be checked', async () => (await company(`/applications/${id}`)).body.documents.every((d) => d.status === 'verified'))
  assert.equal((await act(company, id, '/applications/{id}/submit')).state, 'awaiting_area_confirmation')
  assert.equal((await act(pm, id, '/applications/{id}/confirm-area')).state, 'pending_community')
  made.set(id, name)
  return id
}

/** The states of the applications made, as company-a sees them. */
async function states() {
  const company = await api(server.url, 'company-a')
  const out = []
  for (const id of made.keys()) out.push((await company(`/applications/${id}`)).body.state)
  return out
}

/** The community's inbox through the API (a list: it records nothing opened). */
async function inbox() {
  const call = await api(server.url, 'community-nanyuan')
  const r = await call('/review/community/inbox?limit=50')
  assert.equal(r.status, 200)
  return r.body.items
}

/** The bulk approval the screen sends, sent through the API: same reviewer, same selection. */
async function bulkViaApi(items) {
  const call = await api(server.url, 'community-nanyuan')
  return call('/review/community/bulk-approve', { method: 'POST', body: { items: items.map((a) => ({ id: a.id, version: a.version })) } })
}

/** The ids of the rows the spot-check list shows, in its order. */
async function shownSample(page) {
  const ids = await page.locator(`${sel('spot-check')} [data-test^="spot-check-"][data-opened]`).evaluateAll((els) => els.map((e) => e.dataset.test))
  return ids.map((s) => s.replace(/^spot-check-/, ''))
}

/** Presses 批量通过 and accepts the confirmation. */
async function approveSelected(page, n) {
  const bar = page.locator(sel('bulk-approve'))
  assert.equal(await text(page, `${sel('bulk-approve')} .van-submit-bar__button`), `批量通过（${n}）`)
  await bar.locator('.van-submit-bar__button').click()
  assert.equal(await text(page, '.van-dialog__message'), `确定通过所选 ${n} 件申请？（按申报面积核定）`)
  await confirmDialog(page)
}

test('the API refuses a bulk approval of none, of 101, of an id twice, and with an area', async () => {
  const call = await api(server.url, 'community-nanyuan')
  const url = '/review/community/bulk-approve'
  const items = (n) => Array.from({ length: n }, (_, i) => ({ id: `app-${i}`, version: 1 }))
  for (const [what, body] of [
    ['none', { items: [] }],
    ['101', { items: items(101) }],
    ['an id twice', { items: [...items(3), { id: 'app-0', version: 2 }] }],
  ]) {
    const r = await call(url, { method: 'POST', body })
    assert.equal(r.status, 422, `${what}: ${JSON.stringify(r.body)}`)
    assert.equal(r.body.error.code, 'invalid_field', what)
    assert.equal(r.body.error.field, 'items', what)
  }
  for (const [what, body] of [
    ['an area lowered in bulk', { items: [{ id: 'app-0', version: 1, approvedArea: '10.00' }] }],
    ['no items', {}],
    ['items not a list', { items: 'app-0' }],
  ]) {
    const r = await call(url, { method: 'POST', body })
    assert.ok(r.status === 400 || r.status === 422, `${what}: ${r.status} ${JSON.stringify(r.body)}`)
  }
  // 100 items of unknown ids is a valid request: each one not found.
  const r = await call(url, { method: 'POST', body: { items: items(100) } })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.equal(r.body.approved, 0)
  assert.equal(r.body.results.length, 100)
  assert.deepEqual([...new Set(r.body.results.map((x) => x.outcome))], ['not_found'])
  assert.deepEqual(r.body.results.map((x) => x.id), items(100).map((x) => x.id), 'in request order')
})

test('12 selected: the spot check names the sample, and nothing is approved', async () => {
  for (let i = 1; i <= N; i++) await atCommunity(i)
  assert.deepEqual(await states(), Array(N).fill('pending_community'))
  const listed = await inbox()
  assert.deepEqual(listed.map((a) => a.id).sort(), [...made.keys()].sort(), 'the inbox holds the 12')

  const page = await phone(browser, server.url, 'community-nanyuan')
  await page.locator(sel('review-inbox')).waitFor()
  await until('the inbox to list the 12', async () => (await page.locator(`${sel('review-inbox')} [data-project]`).count()) === N)
  await page.locator(sel('select-mode')).click()
  await page.locator(`${sel('bulk-approve')} .van-checkbox`).click()
  await approveSelected(page, N)

  const popup = page.locator(sel('spot-check'))
  await popup.waitFor()
  await until('the sample to be listed', async () => (await shownSample(page)).length > 0)
  const sample = await shownSample(page)

  // The API, asked the same, names the same sample; nothing is approved.
  const again = await bulkViaApi(listed)
  assert.equal(again.status, 409, JSON.stringify(again.body))
  assert.equal(again.body.error.code, 'spot_check_required')
  assert.deepEqual(sample, again.body.error.sample, 'the screen names the sample the server draws')
  assert.equal(sample.length, Math.ceil(N * 0.1), '10% of 12, rounded up')
  assert.ok(sample.every((id) => made.has(id)))
  assert.deepEqual(await states(), Array(N).fill('pending_community'))

  assert.equal(await text(page, sel('spot-check-hint')), `所选 ${N} 件中已随机抽查 ${sample.length} 件。请逐件点击打开查看，查看完毕返回待办，再次点击「批量通过」。所选申请不变，抽查的申请也不变；本次未通过任何申请。`)
  for (const id of sample) {
    const row = `${sel(`spot-check-${id}`)}`
    assert.equal(await text(page, `${row} .van-cell__title strong`), made.get(id))
    assert.equal(await text(page, `${row} .van-cell__label`), '深圳市安居物业服务有限公司')
    assert.equal(await page.locator(row).getAttribute('data-opened'), 'no')
  }
  assert.equal(await text(page, sel('spot-check-progress')), `已查看 0/${sample.length} 件`)
  await shot(page, '49-bulk-spot-check')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the sample opened from the list, the same 12 again are approved', async () => {
  const listed = await inbox()
  const sample = (await bulkViaApi(listed)).body.error.sample
  assert.equal(sample.length, 2)

  const page = await phone(browser, server.url, 'community-nanyuan')
  // The selection and the sample are kept in the tab: a fresh phone starts
  // afresh, so select the same 12 again; the server names the same sample.
  await until('the inbox to list the 12', async () => (await page.locator(`${sel('review-inbox')} [data-project]`).count()) === N)
  await page.locator(sel('select-mode')).click()
  await page.locator(`${sel('bulk-approve')} .van-checkbox`).click()
  await approveSelected(page, N)
  await page.locator(sel('spot-check')).waitFor()
  await until('the sample to be listed', async () => (await shownSample(page)).length === 2)
  assert.deepEqual(await shownSample(page), sample)

  // The first, opened from the list: its page, at 初审.
  await page.locator(sel(`spot-check-${sample[0]}`)).click()
  await page.waitForURL(new RegExp(`#/applications/${sample[0]}$`))
  await page.locator(sel('app-head')).waitFor()
  assert.equal(await page.locator(`${sel('app-head')} .state-tag`).getAttribute('data-state'), 'pending_community')
  // The server has it opened: it asks for the second alone, and approves nothing.
  await until('the server to ask for the second alone', async () => {
    const r = await bulkViaApi(listed)
    return r.status === 409 && JSON.stringify(r.body.error.sample) === JSON.stringify([sample[1]])
  })
  assert.deepEqual(await states(), Array(N).fill('pending_community'))

  // Back: the same 12 selected, and the list shows the first opened.
  await page.goBack()
  await page.waitForURL(/#\/review\/inbox$/)
  await page.locator(sel('spot-check')).waitFor()
  await until('the first to show opened', async () => (await page.locator(sel(`spot-check-${sample[0]}`)).getAttribute('data-opened')) === 'yes')
  assert.equal(await page.locator(sel(`spot-check-${sample[1]}`)).getAttribute('data-opened'), 'no')
  assert.equal(await page.locator(`${sel('spot-check')} ${sel('spot-check-opened')}`).count(), 1)
  assert.equal(await text(page, sel('spot-check-progress')), '已查看 1/2 件')
  assert.equal(await text(page, `${sel('bulk-approve')} .van-submit-bar__button`), `批量通过（${N}）`)
  assert.equal(await page.locator(`${sel('review-inbox')} .van-checkbox[aria-checked="true"]`).count(), N)

  // The second; back, everything opened: the list stays closed, a note says so.
  await page.locator(sel(`spot-check-${sample[1]}`)).click()
  await page.waitForURL(new RegExp(`#/applications/${sample[1]}$`))
  await page.locator(sel('app-head')).waitFor()
  await page.goBack()
  await page.waitForURL(/#\/review\/inbox$/)
  await page.locator(sel('spot-check-pending')).waitFor()
  assert.equal(await text(page, sel('spot-check-pending')), '抽查的 2 件均已查看，请再次点击「批量通过」')
  assert.equal(await page.locator(`${sel('spot-check')}:visible`).count(), 0)

  // The same 12 again: all approved, on to 街道复核.
  await approveSelected(page, N)
  const result = page.locator('.bulk-result')
  await result.waitFor()
  assert.equal(await text(page, '.bulk-result .van-dialog__header'), `已通过 ${N} 件，失败 0 件`)
  assert.equal(await text(page, '.bulk-result .van-dialog__message'), '本次随机抽查 2 件，均已查看')
  await until('all 12 to wait at 街道复核', async () => (await states()).every((s) => s === 'pending_subdistrict'))
  await confirmDialog(page)
  await page.locator(sel('empty')).waitFor()
  assert.equal(await page.locator(sel('spot-check-pending')).count(), 0)
  assert.deepEqual(await inbox(), [])

  // Each approval's trail says whether it was in the sample, with the seed.
  const company = await api(server.url, 'company-a')
  const other = [...made.keys()].find((id) => !sample.includes(id))
  for (const [id, word] of [[sample[0], '为'], [sample[1], '为'], [other, '非']]) {
    const trail = (await company(`/applications/${id}/timeline`)).body
    assert.ok(Array.isArray(trail), JSON.stringify(trail))
    const comments = trail.filter((e) => e.role === 'community').map((e) => e.comment)
    assert.ok(
      comments.some((c) => new RegExp(`^批量通过（12 件中抽查 2 件，本件${word}抽查样本；抽查种子 [0-9a-f]+）$`).test(c ?? '')),
      `${id}: ${JSON.stringify(comments)}`,
    )
  }
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('a failure in the selection does not stop the rest, and is named as the API names it', async () => {
  // Two more at 初审, below the spot check's minimum. The reviewer lists
  // them; then one is approved in another tab before the bulk request.
  const a = await atCommunity(21)
  const b = await atCommunity(22)
  const page = await phone(browser, server.url, 'community-nanyuan')
  await until('the inbox to list the two', async () => (await page.locator(`${sel('review-inbox')} [data-project]`).count()) === 2)
  const seen = await inbox()
  const stale = seen.find((x) => x.id === a)
  const call = await api(server.url, 'community-nanyuan')
  assert.equal((await call(`/review/community/applications/${a}/approve`, { method: 'POST', body: { version: stale.version } })).status, 200)

  await page.locator(sel('select-mode')).click()
  await page.locator(`${sel('bulk-approve')} .van-checkbox`).click()
  await approveSelected(page, 2)
  await page.locator('.bulk-result').waitFor()
  assert.equal(await text(page, '.bulk-result .van-dialog__header'), '已通过 1 件，失败 1 件')
  const company = await api(server.url, 'company-a')
  assert.equal((await company(`/applications/${b}`)).body.state, 'pending_subdistrict')
  assert.equal((await company(`/applications/${a}`)).body.state, 'pending_subdistrict')

  // The API says why the stale one failed; the page says the same.
  const r = await bulkViaApi([stale])
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.equal(r.body.approved, 0)
  const { outcome } = r.body.results[0]
  const words = { conflict: '已被他人修改，请打开后逐件办理', wrong_state: '已不在本级待办（可能已被他人处理）' }
  assert.ok(outcome in words, `outcome ${outcome}`)
  assert.equal(await text(page, '.bulk-result .van-dialog__message'), `${made.get(a)}：${words[outcome]}`)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})
