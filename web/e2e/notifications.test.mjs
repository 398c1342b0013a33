// The notification centre (通知) through the screens: the company submits,
// and the project manager's 通知 tab shows a badge and the notice asking for
// the area to be confirmed; opening it marks it read (the badge drops) and
// lands on the application, where the manager confirms. The company then
// sees 面积已确认 with a badge and reads it, in Chinese and in English. A
// community reviewer, told nothing yet, sees the empty centre; every role
// reaches the centre from its tab bar.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, until, uploadVia } from './lib.mjs'

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

/** The 通知 tab's badge, once the server's notice has arrived (reloading until it shows `count`). */
async function waitForBadge(page, count) {
  await until(`the 通知 badge to show ${count}`, async () => {
    await page.reload()
    await page.locator(sel('tabbar')).waitFor()
    return (await page.locator(badge).count()) > 0 && (await text(page, badge)) === String(count)
  })
}

async function noBadge(page) {
  await page.locator(sel('tabbar')).waitFor()
  await page.locator(badge).waitFor({ state: 'detached' })
}

test('the company submits; the project manager sees the badge and the notice, and opening it reads it', async () => {
  // An application submitted through the API, as the company would.
  const company = await api(server.url, 'company-a')
  const projects = (await company('/projects')).body
  const project = (projects.items ?? projects).find((p) => p.name === '南园花园')
  const draft = await company('/applications', { method: 'POST', body: { projectId: project.id, claimedArea: '52345.67' } })
  assert.equal(draft.status, 201, JSON.stringify(draft.body))
  appId = draft.body.id
  await uploadVia(company, appId, 'service_contract', '物业服务合同.pdf', 'application/pdf', pdf())
  await uploadVia(company, appId, 'area_proof', '面积证明.png', 'image/png', png())
  await until('the documents to be checked', async () =>
    (await company(`/applications/${appId}`)).body.documents.every((d) => d.status === 'verified'),
  )
  const { version } = (await company(`/applications/${appId}`)).body
  const submitted = await company(`/applications/${appId}/submit`, { method: 'POST', body: { version } })
  assert.equal(submitted.status, 200, JSON.stringify(submitted.body))

  const page = await phone(browser, server.url, 'pm-a')
  await page.locator(sel('manager-inbox')).waitFor()
  await waitForBadge(page, 1)

  await page.locator(sel('tab-notices')).click()
  const notice = page.locator('[data-kind="area_awaiting_confirmation"]')
  await notice.waitFor()
  assert.equal(await notice.count(), 1)
  assert.equal(await notice.getAttribute('data-read'), 'false')
  assert.equal(await notice.locator(sel('notice-unread')).count(), 1, 'unread: a dot')
  assert.equal(await notice.locator(sel('notice-title')).evaluate((el) => getComputedStyle(el).fontWeight), '600', 'unread: bold')
  assert.equal(await text(page, `[data-kind="area_awaiting_confirmation"] ${sel('notice-title')}`), '待确认项目面积')
  assert.equal(
    await text(page, `[data-kind="area_awaiting_confirmation"] ${sel('notice-text')}`),
    '深圳市安居物业服务有限公司申报「南园花园」补助，申报面积 52,345.67 m²，请进行项目面积确认。',
  )
  assert.match(await text(page, `[data-kind="area_awaiting_confirmation"] ${sel('notice-at')}`), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/)
  assert.equal(await text(page, sel('notices-unread')), '1 条未读')

  // Opening it reads it and lands on the application.
  await notice.click()
  await page.waitForURL(new RegExp(`#/applications/${appId}$`))
  await page.locator(sel('app-head')).waitFor()
  await page.locator(sel('confirm-area')).waitFor()
  const pm = await api(server.url, 'pm-a')
  const list = (await pm('/notifications')).body
  assert.equal(list.unread, 0)
  assert.deepEqual(
    list.items.map((n) => [n.kind, n.read, n.applicationId]),
    [['area_awaiting_confirmation', true, appId]],
  )

  // Back in the centre: read, no dot, no badge.
  await page.goBack()
  await page.waitForURL(/#\/notifications$/)
  await page.locator('[data-kind="area_awaiting_confirmation"][data-read="true"]').waitFor()
  assert.equal(await page.locator(sel('notice-unread')).count(), 0)
  assert.equal(await page.locator(sel('notices-unread')).count(), 0)
  await noBadge(page)

  // A read notice still opens its application; the manager confirms there.
  await page.locator('[data-kind="area_awaiting_confirmation"]').click()
  await page.locator(sel('confirm-area')).click()
  await page.waitForURL(/manager\/inbox/)
  await noBadge(page)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the company sees 面积已确认 with the badge, reads it, and reads it in English too', async () => {
  const page = await phone(browser, server.url, 'company-a')
  await page.locator(sel('application-new')).waitFor()
  await waitForBadge(page, 1)

  await page.locator(sel('tab-notices')).click()
  const notice = page.locator('[data-kind="area_confirmed"]')
  await notice.waitFor()
  assert.equal(await notice.getAttribute('data-read'), 'false')
  assert.equal(await text(page, `[data-kind="area_confirmed"] ${sel('notice-title')}`), '面积已确认')
  assert.equal(
    await text(page, `[data-kind="area_confirmed"] ${sel('notice-text')}`),
    '项目经理已确认「南园花园」的面积 52,345.67 m²，申请进入社区初审。',
  )
  // Only the company's own: nothing addressed to the manager.
  assert.equal(await page.locator('[data-kind="area_awaiting_confirmation"]').count(), 0)
  await shot(page, '43-notifications')

  await notice.click()
  await page.waitForURL(new RegExp(`#/applications/${appId}$`))
  await page.locator(sel('app-head')).waitFor()
  await page.goBack()
  await page.locator('[data-kind="area_confirmed"][data-read="true"]').waitFor()
  await noBadge(page)
  const company = await api(server.url, 'company-a')
  assert.equal((await company('/notifications')).body.unread, 0)

  // The same notice in English.
  await page.locator(sel('tab-me')).click()
  await page.locator(sel('lang-en')).click()
  await page.locator(sel('tab-notices')).click()
  await page.locator('[data-kind="area_confirmed"]').waitFor()
  assert.equal(await text(page, '.van-nav-bar__title'), 'Notifications')
  assert.equal(await text(page, `${sel('tab-notices')} .van-tabbar-item__text`), 'Notices')
  assert.equal(await text(page, `[data-kind="area_confirmed"] ${sel('notice-title')}`), 'Area confirmed')
  assert.equal(
    await text(page, `[data-kind="area_confirmed"] ${sel('notice-text')}`),
    'The project manager confirmed 52,345.67 m² for 南园花园; the application goes to the community first review (初审).',
  )
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('a community reviewer with no notices sees the empty centre', async () => {
  const page = await phone(browser, server.url, 'community-nanyuan')
  await page.locator(sel('tabbar')).waitFor()
  await page.locator(sel('tab-notices')).click()
  await page.waitForURL(/#\/notifications$/)
  await page.locator(sel('empty')).waitFor()
  assert.equal(await text(page, sel('empty')), '暂无通知')
  assert.equal(await page.locator(badge).count(), 0)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('every role reaches its notices from the tab bar in one tap', async () => {
  for (const username of ['subdistrict-nanyuan', 'district-futian', 'finance-futian', 'city', 'admin-futian']) {
    const page = await phone(browser, server.url, username)
    await page.locator(sel('tab-notices')).click()
    await page.waitForURL(/#\/notifications$/)
    await page.locator(`${sel('empty')}, ${sel('notices')}`).first().waitFor()
    assert.equal(await page.locator(sel('error')).count(), 0, `${username}: the centre loads`)
    assert.deepEqual(page.errors, [], username)
    await page.context().close()
  }
})
