// 预算预测 through the screens. 福田区 (440304) has a budget of
// 30,000,000.00 yuan; a project is at most 5,000,000.00 m², and its claim
// is 5,000,000.00 yuan (0.5 yuan/m² × 2 months). company-a applies for such
// projects in 南园社区 and pm-a confirms each, so they wait at 初审.
// With one, finance's 拨付 page shows the forecast — 5,000,000.00 in review
// at 初审, 25,000,000.00 left if it is approved — and no warning. With
// seven (35 million in review), finance's page and the district's dashboard
// warn that the budget would be 5,000,000.00 short, the figures the API
// gives; the subdistrict's and the city's own dashboards show no forecast,
// and the city sees the district's when it opens the district.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, until, uploadVia } from './lib.mjs'

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

const DISTRICT = '440304'
const SUBDISTRICT = '440304001'
const COMMUNITY = '440304001020'
const AREA = '5000000.00'
const CLAIM_FEN = 500_000_000 // 5,000,000.00 yuan
const STATES = ['awaitingAreaConfirmation', 'pendingCommunity', 'pendingSubdistrict', 'pendingDistrict', 'returned']
const WARNING = '预算预警：在审申请全部通过后，预算将超支 '

/** How the pages show an exact yuan string: "-5000000.00" → "-¥5,000,000.00". */
function shown(yuan) {
  assert.match(yuan, /^-?\d+\.\d{2}$/, `an amount: ${yuan}`)
  const neg = yuan.startsWith('-')
  const [int, frac] = (neg ? yuan.slice(1) : yuan).split('.')
  return `${neg ? '-' : ''}¥${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${frac}`
}

/** POSTs an action with the application's current version; returns the application after it. */
async function act(call, id, path) {
  const { version } = (await call(`/applications/${id}`)).body
  const r = await call(path.replace('{id}', id), { method: 'POST', body: { version } })
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`)
  return r.body
}

let made = 0

/** A new 5,000,000 m² project of company-a's in 南园社区, applied for, submitted and confirmed by pm-a: it waits at 初审. */
async function bigClaimAtCommunity() {
  const company = await api(server.url, 'company-a')
  const pm = await api(server.url, 'pm-a')
  made += 1
  const project = await company('/projects', {
    method: 'POST',
    body: { name: `预测巨苑${made}号`, address: '南园路', community: COMMUNITY, managedArea: AREA, managerName: '王项目经理', managerPhone: '13800138001' },
  })
  assert.equal(project.status, 201, JSON.stringify(project.body))
  const draft = await company('/applications', { method: 'POST', body: { projectId: project.body.id } })
  assert.equal(draft.status, 201, JSON.stringify(draft.body))
  const id = draft.body.id
  assert.equal(draft.body.claimedAmountFen, CLAIM_FEN, 'the whole project at 0.5 yuan/m² × 2 months')
  await uploadVia(company, id, 'service_contract', '物业服务合同.pdf', 'application/pdf', pdf())
  await uploadVia(company, id, 'area_proof', '面积证明.png', 'image/png', png())
  await until('the documents to be checked', async () => (await company(`/applications/${id}`)).body.documents.every((d) => d.status === 'verified'))
  assert.equal((await act(company, id, '/applications/{id}/submit')).state, 'awaiting_area_confirmation')
  assert.equal((await act(pm, id, '/applications/{id}/confirm-area')).state, 'pending_community')
  return id
}

/** The forecasts of finance's budget and of the district's figures, once both count `n` claims at 初审. */
async function forecastsWith(n) {
  const finance = await api(server.url, 'finance-futian')
  const district = await api(server.url, 'district-futian')
  const want = n * CLAIM_FEN
  let budget
  let stats
  await until(`finance's forecast to count ${n} claims at 初审`, async () => {
    const r = await finance('/disbursement/budget')
    budget = r.body?.forecast
    return r.status === 200 && budget?.inReview.pendingCommunity.fen === want
  })
  await until(`the district's forecast to count ${n} claims at 初审`, async () => {
    const r = await district(`/stats/${DISTRICT}`)
    stats = r.body?.forecast
    return r.status === 200 && stats?.inReview.pendingCommunity.fen === want
  })
  // The two agree, and add up.
  for (const f of [budget, stats]) {
    assert.equal(f.district, DISTRICT)
    assert.deepEqual(Object.keys(f.inReview).sort(), [...STATES].sort())
    const total = STATES.reduce((sum, s) => sum + f.inReview[s].fen, 0)
    assert.equal(f.inReviewTotal.fen, total)
    assert.equal(f.remainingAfterReview.fen, f.allocated.fen - f.approved.fen - total)
    assert.equal(f.short, f.remainingAfterReview.fen < 0)
  }
  assert.deepEqual({ ...stats, asOf: null }, { ...budget, asOf: null }, 'the dashboard and finance see the same forecast')
  return budget
}

/** Opens finance's 拨付 page and waits for the forecast. */
async function openFinance(page) {
  await page.goto(`${server.url}/#/finance`)
  await page.locator(sel('forecast-remaining')).waitFor()
}

/** Opens the signed-in unit's own dashboard and waits for its figures. */
async function openDashboard(page) {
  await page.locator(sel('tab-dashboard')).click()
  await page.waitForURL(/#\/dashboard$/)
  await page.locator(sel('stat-overdue')).waitFor()
}

test('one claim in review: finance sees it in the forecast, and no warning', async () => {
  await bigClaimAtCommunity()
  const f = await forecastsWith(1)
  assert.equal(f.allocated.yuan, '30000000.00')
  assert.equal(f.inReviewTotal.yuan, '5000000.00')
  assert.equal(f.remainingAfterReview.yuan, '25000000.00')
  assert.equal(f.short, false)

  const page = await phone(browser, server.url, 'finance-futian')
  await openFinance(page)
  assert.equal(await text(page, sel('forecast-remaining')), shown(f.remainingAfterReview.yuan))
  assert.equal(await text(page, sel('forecast-remaining')), '¥25,000,000.00')
  assert.equal(await page.locator(sel('forecast-warning')).count(), 0)
  for (const s of STATES) {
    assert.equal(await text(page, `${sel(`forecast-${s}`)} .van-cell__value`), shown(f.inReview[s].yuan), s)
  }
  assert.equal(await text(page, `${sel('forecast-pendingCommunity')} .van-cell__title`), '初审中')
  assert.equal(await text(page, `${sel('forecast-returned')} .van-cell__title`), '退回补正')
  assert.equal(await text(page, `${sel('forecast-in-review')} .van-cell__value`), '¥5,000,000.00')
  assert.equal(await text(page, `${sel('forecast-approved')} .van-cell__value`), shown(f.approved.yuan))
  assert.match(await text(page, sel('forecast')), /全部审核通过后预计剩余/)
  assert.deepEqual(page.errors, [])
  await page.context().close()

  // The district's dashboard: the forecast, no warning.
  const district = await phone(browser, server.url, 'district-futian')
  await openDashboard(district)
  await district.locator(sel('dashboard-forecast')).waitFor()
  assert.equal(await text(district, sel('dashboard-forecast-remaining')), '¥25,000,000.00')
  assert.equal(await district.locator(sel('dashboard-forecast-warning')).count(), 0)
  assert.deepEqual(district.errors, [])
  await district.context().close()
})

test('seven claims in review, 35 million of a 30 million budget: finance and the district are warned', async () => {
  for (let i = 1; i < 7; i++) await bigClaimAtCommunity()
  const f = await forecastsWith(7)
  assert.equal(f.inReviewTotal.yuan, '35000000.00')
  assert.equal(f.short, true)
  assert.match(f.remainingAfterReview.yuan, /^-/)
  const short = f.remainingAfterReview.yuan.slice(1)
  assert.equal(short, '5000000.00')

  const page = await phone(browser, server.url, 'finance-futian')
  await openFinance(page)
  await page.locator(sel('forecast-warning')).waitFor()
  assert.equal(await text(page, sel('forecast-warning')), `${WARNING}${shown(short)}`)
  assert.equal(await text(page, sel('forecast-warning')), '预算预警：在审申请全部通过后，预算将超支 ¥5,000,000.00')
  assert.equal(await text(page, sel('forecast-remaining')), shown(f.remainingAfterReview.yuan))
  assert.equal(await text(page, sel('forecast-remaining')), '-¥5,000,000.00')
  assert.equal(await text(page, `${sel('forecast-pendingCommunity')} .van-cell__value`), '¥35,000,000.00')
  assert.equal(await text(page, `${sel('forecast-in-review')} .van-cell__value`), shown(f.inReviewTotal.yuan))
  // The budget itself is untouched: nothing is approved yet.
  assert.equal(await text(page, sel('budget-remaining')), '¥30,000,000.00')
  await page.locator(sel('forecast')).scrollIntoViewIfNeeded()
  await shot(page, '47-finance-forecast')
  assert.deepEqual(page.errors, [])
  await page.context().close()

  const district = await phone(browser, server.url, 'district-futian')
  await openDashboard(district)
  await district.locator(sel('dashboard-forecast-warning')).waitFor()
  assert.equal(await text(district, sel('dashboard-forecast-warning')), `${WARNING}${shown(short)}`)
  assert.equal(await text(district, sel('dashboard-forecast-remaining')), shown(f.remainingAfterReview.yuan))
  assert.equal(await text(district, `${sel('dashboard-forecast-allocated')} .van-cell__value`), shown(f.allocated.yuan))
  assert.equal(await text(district, `${sel('dashboard-forecast-in-review')} .van-cell__value`), '¥35,000,000.00')
  await district.locator(sel('dashboard-forecast')).scrollIntoViewIfNeeded()
  await shot(district, '48-dashboard-forecast')
  assert.deepEqual(district.errors, [])
  await district.context().close()
})

test('the subdistrict’s and the city’s dashboards have no forecast', async () => {
  const subApi = await api(server.url, 'subdistrict-nanyuan')
  const view = await until('the subdistrict to count the claims', async () => {
    const r = await subApi(`/stats/${SUBDISTRICT}`)
    return r.status === 200 && r.body.totals.counts.pendingCommunity >= 7 ? r.body : null
  })
  assert.equal(view.forecast, null)

  const sub = await phone(browser, server.url, 'subdistrict-nanyuan')
  await openDashboard(sub)
  await sub.locator(sel(`child-${COMMUNITY}`)).waitFor()
  assert.equal(await sub.locator(sel('dashboard-forecast')).count(), 0)
  assert.equal(await sub.locator(sel('dashboard-forecast-warning')).count(), 0)
  assert.deepEqual(sub.errors, [])
  await sub.context().close()

  const cityApi = await api(server.url, 'city')
  const me = (await cityApi('/me')).body
  assert.equal((await cityApi(`/stats/${me.unit.code}`)).body.forecast, null)
  const city = await phone(browser, server.url, 'city')
  await openDashboard(city)
  await city.locator(sel(`child-${DISTRICT}`)).waitFor()
  assert.equal(await city.locator(sel('dashboard-forecast')).count(), 0)
  // Down to the district: its forecast, and the warning.
  const f = (await cityApi(`/stats/${DISTRICT}`)).body.forecast
  assert.equal(f.short, true)
  await city.locator(sel(`child-${DISTRICT}`)).click()
  await city.waitForURL(new RegExp(`#/dashboard/${DISTRICT}$`))
  await city.locator(sel('dashboard-forecast-warning')).waitFor()
  assert.equal(await text(city, sel('dashboard-forecast-warning')), `${WARNING}${shown(f.remainingAfterReview.yuan.slice(1))}`)
  assert.equal(await text(city, sel('dashboard-forecast-remaining')), shown(f.remainingAfterReview.yuan))
  assert.deepEqual(city.errors, [])
  await city.context().close()
})
