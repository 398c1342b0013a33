// 催办 through the screens: the company applies, the project manager
// confirms, and the application waits at 社区初审 — not overdue, nothing to
// urge. The server then restarts over the same data with its clock ten
// days ahead (past the 5 working days of 初审): the company's list and
// detail show 已超期, the company urges (催办) and confirms, the button
// goes and the urged time shows, once per working day. The community's
// inbox marks the application overdue, its 通知 tab shows the badge and the
// `urged` notice, and opening the notice leads to the application.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, confirmDialog, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, toast, until } from './lib.mjs'

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

const badge = `${sel('tab-notices')} .van-badge`
const PROJECT = '南园花园'
const DATE_TIME = /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/

async function stateOf(page) {
  return page.locator(`${sel('app-head')} .state-tag`).getAttribute('data-state')
}

async function openApp(page) {
  await page.locator(`[data-project="${PROJECT}"]`).first().click()
  await page.locator(sel('app-head')).waitFor()
}

test('within the time limit: submitted and confirmed, not overdue, nothing to urge', async () => {
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

  // 社区初审 has begun: due in 5 working days, not overdue, no 催办.
  const company = await phone(browser, server.url, 'company-a')
  await company.locator(`[data-project="${PROJECT}"] .state-tag[data-state="pending_community"]`).waitFor()
  assert.equal(await company.locator(`[data-project="${PROJECT}"] ${sel('overdue-chip')}`).count(), 0)
  await openApp(company)
  assert.match(await text(company, sel('due-at')), /^办理时限 \d{4}-\d{2}-\d{2} 00:00$/)
  assert.equal(await company.locator(sel('overdue-chip')).count(), 0)
  assert.equal(await company.locator(sel('urge')).count(), 0)
  assert.equal(await company.locator(sel('urged-at')).count(), 0)

  // The server agrees: not yet.
  const call = await api(server.url, 'company-a')
  const detail = (await call(`/applications/${appId}`)).body
  assert.deepEqual([detail.overdue, detail.mayUrge, detail.urgedAt], [false, false, null])
  const early = await call(`/applications/${appId}/urge`, { method: 'POST', body: { version: detail.version } })
  assert.deepEqual([early.status, early.body.error.code], [409, 'not_overdue'])
  assert.deepEqual(company.errors, [])
  await company.context().close()
})

test('ten days on, the company sees 已超期 and urges once; the button goes and the urged time shows', async () => {
  await server.restart('--clock-offset-days', '10')

  const page = await phone(browser, server.url, 'company-a')
  await page.locator(`[data-project="${PROJECT}"] ${sel('overdue-chip')}`).waitFor()
  assert.equal(await text(page, `[data-project="${PROJECT}"] ${sel('overdue-chip')}`), '已超期')
  await openApp(page)
  assert.equal(await stateOf(page), 'pending_community')
  assert.equal(await text(page, `${sel('app-head')} ${sel('overdue-chip')}`), '已超期')
  await page.locator(sel('urge')).waitFor()
  assert.equal(await text(page, sel('urge')), '催办')
  assert.equal(await page.locator(sel('urged-at')).count(), 0)
  await shot(page, '44-company-urge')

  // A short confirm says who is told, and how often.
  await page.locator(sel('urge')).click()
  const message = await text(page, '.van-dialog__message')
  assert.match(message, /当前环节（社区初审中）的办理人员/)
  assert.match(message, /每个工作日可催办一次/)
  await confirmDialog(page)
  assert.equal(await toast(page), '已催办')
  await page.locator(sel('urge')).waitFor({ state: 'detached' })
  assert.match(await text(page, sel('urged-at')), new RegExp(`^已于 ${DATE_TIME.source} 催办$`))
  // The timeline records the urge, by the company.
  const last = page.locator(`${sel('timeline')} .van-step`).last()
  await until('the timeline to show the urge', async () => /^催办\s+物业服务企业/.test(await last.innerText()))
  assert.equal(await stateOf(page), 'pending_community', 'an urge does not move the application')

  // Once per working day.
  const call = await api(server.url, 'company-a')
  const detail = (await call(`/applications/${appId}`)).body
  assert.deepEqual([detail.overdue, detail.mayUrge], [true, false])
  assert.ok(detail.urgedAt)
  const again = await call(`/applications/${appId}/urge`, { method: 'POST', body: { version: detail.version } })
  assert.deepEqual([again.status, again.body.error.code], [409, 'already_urged'])
  const timeline = (await call(`/applications/${appId}/timeline`)).body
  assert.deepEqual(
    timeline.filter((e) => e.action === 'urge').map((e) => e.role),
    ['company'],
  )

  // Reopened, the detail still shows the urge and no button.
  await page.reload()
  await page.locator(sel('urged-at')).waitFor()
  assert.equal(await page.locator(sel('urge')).count(), 0)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the community sees the item overdue, the badge and the urged notice, which opens the application', async () => {
  const page = await phone(browser, server.url, 'community-nanyuan')
  await page.locator(`[data-project="${PROJECT}"]`).waitFor()
  assert.equal(await text(page, `[data-project="${PROJECT}"] ${sel('overdue-chip')}`), '已超期')

  await until('the 通知 badge to show 1', async () => {
    await page.reload()
    await page.locator(sel('tabbar')).waitFor()
    return (await page.locator(badge).count()) > 0 && (await text(page, badge)) === '1'
  })
  await page.locator(sel('tab-notices')).click()
  const notice = page.locator('[data-kind="urged"]')
  await notice.waitFor()
  assert.equal(await notice.count(), 1)
  assert.equal(await notice.getAttribute('data-read'), 'false')
  assert.equal(await text(page, `[data-kind="urged"] ${sel('notice-title')}`), '企业催办')
  assert.equal(
    await text(page, `[data-kind="urged"] ${sel('notice-text')}`),
    `深圳市安居物业服务有限公司催办「${PROJECT}」：该申请已超过办理时限，请尽快办理。`,
  )

  await notice.click()
  await page.waitForURL(new RegExp(`#/applications/${appId}$`))
  await page.locator(sel('review-actions')).waitFor()
  assert.equal(await text(page, `${sel('app-head')} ${sel('overdue-chip')}`), '已超期')
  // Reviewers see that the company urged, but have no 催办 of their own.
  assert.match(await text(page, sel('urged-at')), new RegExp(`^企业已于 ${DATE_TIME.source} 催办$`))
  assert.equal(await page.locator(sel('urge')).count(), 0)
  await page.locator(badge).waitFor({ state: 'detached' })
  assert.deepEqual(page.errors, [])
  await page.context().close()
})
