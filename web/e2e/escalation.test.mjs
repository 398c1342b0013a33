// 督办 through the screens: the company applies, the project manager
// confirms, and the application waits at 社区初审 — within its time limit,
// so nothing is listed to the unit above. The server then restarts over the
// same data with its clock sixteen days ahead (far past the 5 working days
// of 初审 plus the policy's 3 working days of escalateAfter) and runs its
// nightly job. The subdistrict's inbox has a second list, 下级超期, with the
// application marked 已超期; opening it shows no approve / return / reject,
// only a note that the tier below acts on it. The subdistrict is told once
// a day (an `overdue_below` notice that opens the list). The district's
// 下级超期 is empty (nothing waits at 复核), and the community, with no tier
// below, has no such list. The dashboard counts it: 逾期 0 while within
// the limit; after, 逾期 under 初审中, in the headline and beside the
// subdistrict and the community in the lists of units below, the figures
// the API gives.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, until } from './lib.mjs'

let server
let browser
let appId

before(async () => {
  server = await startServer()
  browser = await launch()
})
afterEach(async (t) => keepFailedScreens(t.name))
after(async () => {
  await browser?.close()
  await server?.stop()
})

const PROJECT = '南园花园'
const DUE = /^办理时限 \d{4}-\d{2}-\d{2} \d{2}:\d{2}/
const HINT = '下级社区（初审）超过办理时限 3 个工作日以上的申请，仅供督办，由下级办理。'

async function stateOf(page) {
  return page.locator(`${sel('app-head')} .state-tag`).getAttribute('data-state')
}

async function openApp(page) {
  await page.locator(`[data-project="${PROJECT}"]`).first().click()
  await page.locator(sel('app-head')).waitFor()
}

const SUBDISTRICT = '440304001'
const COMMUNITY = '440304001020'
const TIMED = ['awaitingAreaConfirmation', 'pendingCommunity', 'pendingSubdistrict', 'pendingDistrict', 'approved']

/** The unit's figures as the API gives them, once they count the application at 初审. */
async function statsWithIt(call, code) {
  let view
  await until(`${code}'s figures to count the application at 初审`, async () => {
    const r = await call(`/stats/${code}`)
    view = r.body
    return r.status === 200 && view.totals.counts.pendingCommunity >= 1
  })
  return view
}

/** All the steps' overdue applications together, from the API's per-state figures. */
function overdueSum(totals) {
  assert.deepEqual(Object.keys(totals.overdue).sort(), [...TIMED].sort(), 'the API gives the five timed states')
  return Object.values(totals.overdue).reduce((a, b) => a + b, 0)
}

/** Opens the unit's dashboard from its tab and waits for its figures. */
async function openDashboard(page) {
  await page.locator(sel('tab-dashboard')).click()
  await page.waitForURL(/#\/dashboard$/)
  await page.locator(sel('stat-overdue')).waitFor()
}

/** Opens the inbox's 下级超期 list and waits for it to show its items or say there are none. */
async function openBelow(page) {
  await page.locator(sel('tab-below')).click()
  await page.waitForURL(/#\/review\/inbox\?view=below$/)
  await page.locator(`${sel('overdue-below')}, ${sel('below-empty')}`).first().waitFor()
}

test('within the time limit: it waits at 初审 and nothing is overdue below', async () => {
  const page = await phone(browser, server.url, 'company-a')
  await page.locator(sel('application-new')).click()
  await page.locator(sel(`pick-${PROJECT}`)).click()
  await page.locator(`${sel('claimedArea')} input`).fill('52345.67')
  await page.locator(sel('create-draft')).click()
  await page.locator(sel('app-head')).waitFor()
  appId = page.url().split('/applications/')[1]
  assert.ok(appId, 'the draft has an id in the URL')
  await page.setInputFiles(sel('file-service_contract'), { name: '物业服务合同.pdf', mimeType: 'application/pdf', buffer: pdf() })
  await page.locator(`${sel('doc-物业服务合同.pdf')} [data-status="verified"]`).waitFor()
  await page.setInputFiles(sel('file-area_proof'), { name: '面积证明.png', mimeType: 'image/png', buffer: png() })
  await page.locator(`${sel('doc-面积证明.png')} [data-status="verified"]`).waitFor()
  await page.locator(sel('submit')).click()
  await until('the application to await the manager', async () => (await stateOf(page)) === 'awaiting_area_confirmation')
  await page.context().close()

  const pm = await phone(browser, server.url, 'pm-a')
  await pm.locator(sel('manager-inbox')).waitFor()
  await openApp(pm)
  await pm.locator(sel('confirm-area')).click()
  await pm.waitForURL(/manager\/inbox/)
  await pm.context().close()

  const community = await api(server.url, 'community-nanyuan')
  await until('the application to reach 初审', async () => (await community(`/applications/${appId}`)).body?.state === 'pending_community')

  // Not overdue yet: the subdistrict's 下级超期 says so, with the policy's 3 days.
  const sub = await phone(browser, server.url, 'subdistrict-nanyuan')
  await sub.locator(`${sel('review-inbox')}, ${sel('empty')}`).first().waitFor()
  await openBelow(sub)
  assert.equal(await text(sub, sel('below-hint')), HINT)
  assert.equal(await text(sub, `${sel('below-empty')} .van-empty__description`), '下级没有超过办理时限 3 个工作日以上的申请')
  const subApi = await api(server.url, 'subdistrict-nanyuan')
  assert.deepEqual((await subApi('/review/subdistrict/overdue-below')).body, { items: [], nextCursor: null })

  // The dashboard counts it at 初审, and nothing overdue.
  const before = await statsWithIt(subApi, SUBDISTRICT)
  assert.equal(before.unit.code, SUBDISTRICT)
  assert.equal(overdueSum(before.totals), 0)
  await openDashboard(sub)
  assert.equal(await text(sub, sel('stat-overdue')), '0')
  assert.equal(await sub.locator(`${sel('counts')} [data-test^="overdue-"]`).count(), 0)
  assert.equal(await sub.locator(sel('overdue-pendingCommunity')).count(), 0)
  await sub.locator(sel(`child-${COMMUNITY}`)).waitFor()
  assert.equal(await sub.locator('[data-test^="child-overdue-"]').count(), 0)
  assert.deepEqual(sub.errors, [])
  await sub.context().close()
})

test('sixteen days on, the subdistrict sees it in 下级超期, 已超期, and cannot act on it', async () => {
  // The nightly job runs at start: the day's digests and escalations.
  await server.restart('--clock-offset-days', '16', '--nightly-every-hours', '24')

  const page = await phone(browser, server.url, 'subdistrict-nanyuan')
  await page.locator(sel('inbox-tabs')).waitFor()
  assert.equal(await text(page, sel('tab-inbox')), '待办')
  assert.equal(await text(page, sel('tab-below')), '下级超期')
  // Nothing waits at 复核 itself.
  await page.locator(sel('empty')).waitFor()

  await openBelow(page)
  assert.equal(await text(page, sel('below-hint')), HINT)
  const row = `${sel('overdue-below')} [data-project="${PROJECT}"]`
  await page.locator(row).waitFor()
  assert.equal(await page.locator(`${sel('overdue-below')} [data-project]`).count(), 1)
  assert.equal(await page.locator(row).getAttribute('data-test'), `app-${appId}`)
  assert.equal(await page.locator(`${row} .state-tag`).getAttribute('data-state'), 'pending_community')
  assert.equal(await text(page, `${row} ${sel('overdue-chip')}`), '已超期')
  assert.match(await text(page, `${row} ${sel('due-at')}`), DUE)
  assert.match(await text(page, row), /深圳市安居物业服务有限公司/)
  // Read-only: no bulk approval on this list.
  assert.equal(await page.locator(sel('select-mode')).count(), 0)
  await shot(page, '45-subdistrict-overdue-below')

  // Opened, it is read-only for the subdistrict: the community acts on it.
  await openApp(page)
  assert.equal(await stateOf(page), 'pending_community')
  assert.equal(await text(page, `${sel('app-head')} ${sel('overdue-chip')}`), '已超期')
  assert.equal(await text(page, sel('below-read-only')), '该申请正在下级社区（初审）办理，仅供督办，您不能在此审核。')
  for (const action of ['review-actions', 'approve', 'return', 'reject', 'urge']) {
    assert.equal(await page.locator(sel(action)).count(), 0, `no ${action}`)
  }
  // Back, the same list.
  await page.goBack()
  await page.waitForURL(/#\/review\/inbox\?view=below$/)
  await page.locator(row).waitFor()

  // The server agrees: the subdistrict cannot act at 初审.
  const call = await api(server.url, 'subdistrict-nanyuan')
  const listed = (await call('/review/subdistrict/overdue-below')).body
  assert.deepEqual(
    listed.items.map((a) => [a.id, a.state, a.overdue]),
    [[appId, 'pending_community', true]],
  )
  const refused = await call(`/review/subdistrict/applications/${appId}/approve`, { method: 'POST', body: { version: listed.items[0].version } })
  assert.ok(refused.status >= 400 && refused.status < 500, `approve answered ${refused.status}`)
  assert.equal((await call(`/applications/${appId}`)).body.state, 'pending_community')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('sixteen days on, the dashboard counts it 逾期: per step, in all, and per unit below', async () => {
  const call = await api(server.url, 'district-futian')
  const district = (await call('/me')).body.unit.code
  const view = await statsWithIt(call, district)
  const total = overdueSum(view.totals)
  assert.ok(total >= 1, `the district has ${total} overdue`)
  assert.ok(view.totals.overdue.pendingCommunity >= 1, 'the application at 初审 is overdue')
  const sub = view.children.find((c) => c.unit.code === SUBDISTRICT)
  assert.ok(sub, `${SUBDISTRICT} is below the district`)
  assert.ok(sub.totals.overdue.pendingCommunity >= 1, 'the subdistrict counts it overdue')

  const page = await phone(browser, server.url, 'district-futian')
  await openDashboard(page)
  assert.equal(await text(page, sel('stat-overdue')), String(total))
  assert.equal(await text(page, sel('overdue-pendingCommunity')), `逾期 ${view.totals.overdue.pendingCommunity}`)
  // Each timed state shows its figure when there is one, and nothing when not.
  for (const k of TIMED) {
    const n = view.totals.overdue[k]
    assert.equal(await page.locator(sel(`overdue-${k}`)).count(), n > 0 ? 1 : 0, k)
  }
  assert.equal(await text(page, sel(`child-overdue-${SUBDISTRICT}`)), `逾期 ${overdueSum(sub.totals)}`)
  assert.match(await text(page, sel(`child-${SUBDISTRICT}`)), /南园街道/)
  for (const c of view.children.filter((c) => overdueSum(c.totals) === 0)) {
    assert.equal(await page.locator(sel(`child-overdue-${c.unit.code}`)).count(), 0, c.unit.code)
  }

  // Down to the subdistrict: its community has it.
  await page.locator(sel(`child-${SUBDISTRICT}`)).click()
  await page.waitForURL(new RegExp(`#/dashboard/${SUBDISTRICT}$`))
  const subView = (await call(`/stats/${SUBDISTRICT}`)).body
  const community = subView.children.find((c) => c.unit.code === COMMUNITY)
  assert.ok(community, `${COMMUNITY} is below ${SUBDISTRICT}`)
  assert.ok(overdueSum(community.totals) >= 1, 'the community counts it overdue')
  await until('the subdistrict dashboard', async () => (await text(page, sel('stat-overdue'))) === String(overdueSum(subView.totals)))
  assert.equal(await text(page, sel('overdue-pendingCommunity')), `逾期 ${subView.totals.overdue.pendingCommunity}`)
  assert.equal(await text(page, sel(`child-overdue-${COMMUNITY}`)), `逾期 ${overdueSum(community.totals)}`)
  assert.deepEqual(page.errors, [])
  await page.context().close()

  // The subdistrict's own dashboard says the same, in English too.
  const en = await phone(browser, server.url, 'subdistrict-nanyuan')
  await en.goto(`${server.url}/#/me`)
  await en.locator(sel('lang-en')).click()
  await openDashboard(en)
  assert.equal(await text(en, `${sel('headline')} .card:has(${sel('stat-overdue')}) .label`), 'Overdue')
  assert.equal(await text(en, sel('stat-overdue')), String(overdueSum(subView.totals)))
  assert.equal(await text(en, sel('overdue-pendingCommunity')), `${subView.totals.overdue.pendingCommunity} overdue`)
  assert.equal(await text(en, sel(`child-overdue-${COMMUNITY}`)), `${overdueSum(community.totals)} overdue`)
  assert.deepEqual(en.errors, [])
  await en.context().close()
})

test('the subdistrict is told once a day, and the notice opens 下级超期', async () => {
  const call = await api(server.url, 'subdistrict-nanyuan')
  const escalations = async () => (await call('/notifications')).body.items.filter((n) => n.kind === 'overdue_below')
  await until('the nightly job to send the escalation', async () => (await escalations()).length > 0, 30_000)
  const [notice] = await escalations()
  assert.equal((await escalations()).length, 1)
  assert.equal(notice.applicationId, null)
  assert.deepEqual({ ...notice.params, date: undefined }, { date: undefined, tier: 'community', count: '1', days: '3' })
  assert.match(notice.params.date, /^\d{4}-\d{2}-\d{2}$/)

  const page = await phone(browser, server.url, 'subdistrict-nanyuan')
  await page.locator(sel('tab-notices')).click()
  const item = page.locator('[data-kind="overdue_below"]')
  await item.waitFor()
  assert.equal(await text(page, `[data-kind="overdue_below"] ${sel('notice-title')}`), '下级超期督办')
  assert.equal(
    await text(page, `[data-kind="overdue_below"] ${sel('notice-text')}`),
    `${notice.params.date} 下级社区（初审）有 1 件申请超过办理时限 3 个工作日以上，请督办。`,
  )
  await item.click()
  await page.waitForURL(/#\/review\/inbox\?view=below$/)
  await page.locator(`${sel('overdue-below')} [data-project="${PROJECT}"] ${sel('overdue-chip')}`).waitFor()
  assert.equal((await escalations())[0].read, true)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the district has nothing overdue below (nothing waits at 复核); the community has no such list', async () => {
  const district = await phone(browser, server.url, 'district-futian')
  await district.locator(sel('inbox-tabs')).waitFor()
  await openBelow(district)
  assert.equal(
    await text(district, sel('below-hint')),
    '下级街道（复核）超过办理时限 3 个工作日以上的申请，仅供督办，由下级办理。',
  )
  await district.locator(sel('below-empty')).waitFor()
  assert.equal(await district.locator(`${sel('overdue-below')} [data-project]`).count(), 0)
  const districtApi = await api(server.url, 'district-futian')
  assert.deepEqual((await districtApi('/review/district/overdue-below')).body, { items: [], nextCursor: null })
  const notices = (await districtApi('/notifications')).body.items
  assert.deepEqual(notices.filter((n) => n.kind === 'overdue_below'), [])
  assert.deepEqual(district.errors, [])
  await district.context().close()

  // The community acts on it, overdue, in its one list.
  const community = await phone(browser, server.url, 'community-nanyuan')
  await community.locator(`${sel('review-inbox')} [data-project="${PROJECT}"] ${sel('overdue-chip')}`).waitFor()
  assert.equal(await community.locator(sel('inbox-tabs')).count(), 0)
  assert.equal(await community.locator(sel('tab-below')).count(), 0)
  // Even asked for by URL, its inbox stays the inbox.
  await community.goto(`${server.url}/#/review/inbox?view=below`)
  await community.locator(`${sel('review-inbox')} [data-project="${PROJECT}"]`).waitFor()
  assert.equal(await community.locator(sel('below-hint')).count(), 0)
  const communityApi = await api(server.url, 'community-nanyuan')
  assert.equal((await communityApi('/review/community/overdue-below')).status, 404)
  await openApp(community)
  await community.locator(sel('review-actions')).waitFor()
  assert.equal(await community.locator(sel('below-read-only')).count(), 0)
  assert.deepEqual(community.errors, [])
  await community.context().close()
})
