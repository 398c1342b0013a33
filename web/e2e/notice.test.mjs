// 公示 (public notice) and 异议 (objections), through the screens, on the
// demo with config/policy-shenzhen-2020-notice.json (a 5-day notice). Three
// applications of company-a in 南园社区 are driven through the API to the
// district's 审核, which publishes them (公示中) instead of approving them.
//
// (a) Signed out, from the sign-in page's link, 公示 lists them under the
//     day of publication with the window (that day to the day before
//     endsAt, China time), each with its company, credit code, project,
//     subdistrict and community, area and amount; no token is sent, and
//     the page shows no phone number and no bank account.
// (b) company-b objects to the first from 我的 → 公示: 已提交异议, and the
//     item is held (异议处理中); objecting again (after a reload) is told
//     it objected already, and 我的异议 opens with the objection (处理中).
//     district-futian goes from its inbox's link to
//     公示, opens the held application (处理异议) and sees the objection
//     with the objector; it dismisses it (异议不成立): still in 公示, the
//     window not restarted. company-a sees the panel without the objector.
// (c) The second is objected to (through the API); the objector opens 我的异议
//     on the page, attaches a file from there, and sees it 已校验 when the
//     upload is done. The district upholds it (异议成立，退回审核): back to
//     区级审核中, off the public list; the objector's own objection says so.
// (d) A fourth is published; company-b cannot attach evidence before
//     objecting (404), objects on the page and attaches a PDF there (上传异议
//     材料); a file whose content is not a PDF is refused before it goes, and
//     a file the server's check refuses takes no place: five more are taken,
//     a sixth is refused (at most 5). After a reload, 我的异议 shows the
//     objection (处理中) and each file as the check left it (已校验, or
//     未通过 with the reason), with no more upload offered; company-a, who
//     never objected, is told so. district-futian's page lists the 异议材料;
//     company-a's never does. The objection is left waiting.
// (e) The server restarts six days on with its nightly job: the third (no
//     objection) and the first (dismissed: its window was not restarted)
//     are approved (payable) and off the list; the fourth, held by its
//     objection, stays listed as 公示期满 and takes no objection nor
//     evidence (409; 我的异议 says the notice is over) until the district
//     dismisses it; the list is then
//     empty; the timeline says 公示期满, by the system.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, confirmDialog, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, toast, until, uploadVia } from './lib.mjs'

let server
let browser

before(async () => {
  server = await startServer({ policy: 'config/policy-shenzhen-2020-notice.json' })
  browser = await launch()
})
afterEach(async (t) => keepFailedScreens(t.name))
after(async () => {
  await browser?.close()
  await server?.stop()
})

const COMMUNITY = '440304001020'
const DISTRICT = '440304'
const MANAGER_PHONE = '13800138001'
/** The three applications: [project, area]; ids once driven. */
const APPS = {
  dismissed: ['公示甲苑', '800.00'],
  returned: ['公示乙苑', '600.00'],
  quiet: ['公示丙苑', '500.00'],
}
const ids = {}
/** The fourth, published in (d) and held by an objection over the end of its window. */
const HELD = ['公示丁苑', '700.00']

/** "800.00" → "¥800.00", as the page shows an amount. */
const money = (y) => {
  const [i, f] = y.split('.')
  return `¥${i.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${f}`
}
/** The China date (YYYY-MM-DD) of an instant. */
const chinaDate = (ms) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date(ms))

/** POSTs an action with the application's current version; returns the body after it. */
async function act(call, id, path, extra = {}) {
  const { version } = (await call(`/applications/${id}`)).body
  const r = await call(path.replace('{id}', id), { method: 'POST', body: { version, ...extra } })
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`)
  return r.body
}

/** The public notice as anyone reads it: no token. */
async function publicList(district = DISTRICT) {
  const r = await fetch(`${server.url}/api/v1/public/notices?district=${district}&limit=100`)
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('cache-control'), 'public, max-age=60')
  return r.json()
}

async function asCompanyA(id) {
  const r = await (await api(server.url, 'company-a'))(`/applications/${id}`)
  assert.equal(r.status, 200, JSON.stringify(r.body))
  return r.body
}

/** Scrolls `selector` to just below the page bar, once no toast covers the screen, for a manual screenshot. */
async function showFromTop(page, selector) {
  await until('the toasts to go', async () => (await page.locator('.van-toast:visible').count()) === 0)
  await page.locator(selector).evaluate((el) => {
    el.scrollIntoView({ block: 'start' })
    window.scrollBy(0, -90)
  })
}

const item = (id) => sel(`notice-${id}`)
const stateOf = (page) => page.locator(`${sel('app-head')} .state-tag`).getAttribute('data-state')
/** The reason popup on screen (the page may hold others, hidden). */
const popup = (page) => page.locator(`.van-popup:visible ${sel('reason-popup')}`)

/** Drives a new application of company-a through the API to the district's 审核, which publishes it; its id. */
async function publish(name, area) {
  const company = await api(server.url, 'company-a')
  const pm = await api(server.url, 'pm-a')
  const project = await company('/projects', {
    method: 'POST',
    body: { name, address: '南园路 99 号', community: COMMUNITY, managedArea: area, managerName: '王项目经理', managerPhone: MANAGER_PHONE },
  })
  assert.equal(project.status, 201, JSON.stringify(project.body))
  const draft = await company('/applications', { method: 'POST', body: { projectId: project.body.id } })
  assert.equal(draft.status, 201, JSON.stringify(draft.body))
  const id = draft.body.id
  await uploadVia(company, id, 'service_contract', '物业服务合同.pdf', 'application/pdf', pdf())
  await uploadVia(company, id, 'area_proof', '面积证明.png', 'image/png', png())
  await until('the documents to be checked', async () => (await company(`/applications/${id}`)).body.documents.every((d) => d.status === 'verified'))
  await act(company, id, '/applications/{id}/submit')
  await act(pm, id, '/applications/{id}/confirm-area')
  for (const [who, tier] of [
    ['community-nanyuan', 'community'],
    ['subdistrict-nanyuan', 'subdistrict'],
    ['district-futian', 'district'],
  ]) {
    const call = await api(server.url, who)
    await until(`${tier} to have it`, async () => (await company(`/applications/${id}`)).body.pendingTier === tier)
    await act(call, id, `/review/${tier}/applications/{id}/approve`)
  }
  const published = await asCompanyA(id)
  assert.equal(published.state, 'in_public_notice')
  assert.equal(published.approvedAmount, area, 'one yuan per m² in all')
  assert.deepEqual(published.notice.objections, [])
  return id
}

test('setup: three applications reach the district and are published (through the API)', async () => {
  const company = await api(server.url, 'company-a')
  const policy = (await company('/policy')).body
  assert.equal(policy.publicNoticeDays, 5)
  for (const [key, [name, area]] of Object.entries(APPS)) ids[key] = await publish(name, area)
  const list = await publicList()
  assert.deepEqual(list.items.map((i) => i.applicationId).sort(), Object.values(ids).sort())
  assert.ok(list.items.every((i) => i.ended === false), 'no window has ended')
  // Every district-level unit, for the picker, with no sign-in.
  assert.ok(list.districts.some((d) => d.code === '440305' && d.name === '南山区' && d.level === 'district'), JSON.stringify(list.districts))
  assert.ok(list.districts.every((d) => d.level === 'district'))
})

test('(a) signed out, 公示 lists them with their amounts and windows, and nothing personal', async () => {
  const page = await phone(browser, server.url, null)
  const sent = []
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/')) sent.push([new URL(r.url()).pathname, r.headers().authorization ?? null])
  })
  await page.locator(sel('public-notice-link')).click()
  await page.waitForURL(/#\/public\/notices/)
  await page.locator(item(ids.dismissed)).waitFor()

  const list = await publicList()
  assert.equal(list.districtName, '福田区')
  assert.equal(await text(page, sel('district-name')), '福田区')
  assert.match(await text(page, sel('notice-intro')), /公示期 5 天/)
  for (const [key, [name, area]] of Object.entries(APPS)) {
    const row = page.locator(item(ids[key]))
    const it = list.items.find((i) => i.applicationId === ids[key])
    assert.equal(await text(row, sel('notice-project')), name)
    assert.equal(await text(row, sel('notice-company')), '深圳市安居物业服务有限公司')
    assert.equal(await text(row, sel('notice-credit-code')), `统一社会信用代码 ${it.creditCode}`)
    assert.equal(await text(row, sel('notice-amount')), money(area))
    assert.equal(await text(row, sel('notice-area')), `${area} m²`)
    assert.match(await row.innerText(), /南园街道 · 南园社区/)
    assert.equal(await row.getAttribute('data-on-hold'), 'false')
    // Under its day of publication, with its window: that day to the day before endsAt (China time).
    assert.notEqual(chinaDate(Date.parse(it.endsAt) - 1), chinaDate(Date.parse(it.endsAt)), 'the window ends at a China midnight')
    const group = page.locator(sel(`notice-group-${it.noticeDate}`))
    const window = group.locator(sel('notice-window'))
    assert.equal(await window.getAttribute('data-from'), it.noticeDate)
    assert.equal(await window.getAttribute('data-to'), chinaDate(Date.parse(it.endsAt) - 86_400_000))
    assert.equal(await text(group, sel('notice-window')), `公示期：${it.noticeDate} 至 ${chinaDate(Date.parse(it.endsAt) - 86_400_000)}`)
  }
  // Five days counting the day of publication.
  const first = list.items[0]
  assert.equal(Math.round((Date.parse(`${chinaDate(Date.parse(first.endsAt))}T00:00:00+08:00`) - Date.parse(`${first.noticeDate}T00:00:00+08:00`)) / 86_400_000), 5)

  // Signed out: a way to sign in, no objecting.
  await page.locator(sel('sign-in-hint')).waitFor()
  assert.equal(await page.locator(sel('notice-object')).count(), 0)
  // Nothing personal: no phone, no bank account, no person's name.
  const company = (await (await api(server.url, 'company-a'))('/company')).body
  const body = await page.locator('body').innerText()
  for (const secret of [MANAGER_PHONE, company.contactPhone, company.bankAccount.accountNumberMasked, company.bankAccount.bankName, '4000021234567890123', '王项目经理', company.legalRepresentative]) {
    assert.ok(!body.includes(secret), `the page shows ${secret}`)
  }
  assert.doesNotMatch(body, /1[3-9]\d{9}/, 'a mobile number on the page')
  assert.doesNotMatch(body, /\*{2,}/, 'a masked number on the page')
  // And no token went with any request.
  assert.ok(sent.some(([p]) => p === '/api/v1/public/notices'), JSON.stringify(sent))
  assert.deepEqual(sent.filter(([, auth]) => auth !== null), [])

  await shot(page, '55-public-notice')

  // Another district, picked signed out from every district the list names: its notice is empty.
  await page.locator(sel('district-pick')).click()
  await page.locator(sel('district-picker')).waitFor()
  assert.equal(await page.locator(`${sel('district-picker')} [data-test^="district-44"]`).count(), list.districts.length)
  assert.equal(await text(page, `${sel('district-440305')} .van-cell__title > span`), '南山区')
  await page.locator(sel('district-440305')).click()
  await page.waitForURL(/district=440305/)
  await until('南山区 to show', async () => (await text(page, sel('district-name'))) === '南山区')
  assert.equal(await text(page, `${sel('empty')} .van-empty__description`), '南山区目前没有正在公示的申请')
  // The city is no district: said so, and the picker still offers every district.
  await page.goto(`${server.url}/#/public/notices?district=440300`)
  assert.equal(await text(page, `${sel('error')} .van-empty__description`), '没有该区级单位，请核对区划代码')
  await page.locator(sel('district-pick')).click()
  await page.locator(sel('district-440304')).click()
  await page.waitForURL(/district=440304/)
  await page.locator(item(ids.dismissed)).waitFor()
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('(b) company-b objects once; the district sees who, and dismisses it; the window is not restarted', async () => {
  const id = ids.dismissed
  const page = await phone(browser, server.url, 'company-b')
  await page.locator(sel('tab-me')).click()
  await page.locator(sel('me-public-notice')).click()
  await page.waitForURL(/#\/public\/notices/)
  await page.locator(item(id)).waitFor()
  await page.locator(`${item(id)} ${sel('notice-object')}`).click()
  await popup(page).waitFor()
  assert.equal(await text(popup(page), 'h3'), '对「公示甲苑」提出异议')
  assert.match(await text(popup(page), sel('reason-hint')), /您的身份不会告知申报企业/)
  // No reason: said, nothing sent.
  await popup(page).locator(sel('reason-confirm')).click()
  assert.equal(await text(popup(page), '.van-field__error-message'), '请填写原因')
  await popup(page).locator(`${sel('reason')} textarea`).fill('该小区疫情期间由业委会自行管理，企业未实际提供防控服务')
  await shot(page, '56-public-notice-object')
  await popup(page).locator(sel('reason-confirm')).click()
  assert.equal(await toast(page), '已提交异议')
  await page.locator(`${item(id)} ${sel('notice-objected')}`).waitFor()
  await page.locator(`${item(id)} ${sel('notice-on-hold')}`).waitFor()
  assert.equal(await page.locator(`${item(id)} ${sel('notice-object')}`).count(), 0, 'not offered again')

  // Again, after a reload: refused, and said so.
  await page.reload()
  await page.locator(`${item(id)}[data-on-hold="true"]`).waitFor()
  await page.locator(`${item(id)} ${sel('notice-object')}`).click()
  await popup(page).locator(`${sel('reason')} textarea`).fill('再提一次')
  await popup(page).locator(sel('reason-confirm')).click()
  assert.equal(await toast(page), '您已对该项公示提出过异议，不能重复提出')
  await page.locator(`${item(id)} ${sel('notice-objected')}`).waitFor()
  // …and shown the objection it made (我的异议).
  const mine = page.locator(sel('mine-popup'))
  await mine.locator(sel('mine-objection')).waitFor()
  assert.equal(await mine.getAttribute('data-application'), id)
  assert.equal(await text(mine, `${sel('mine-reason')} .van-cell__label`), '该小区疫情期间由业委会自行管理，企业未实际提供防控服务')
  assert.equal(await text(mine, sel('mine-status')), '处理中')
  assert.equal(await mine.locator(sel('mine-no-documents')).count(), 1)
  await mine.locator(sel('mine-attach')).waitFor() // the window is open: evidence may follow
  assert.deepEqual(page.errors, [])
  await page.context().close()

  const objector = (await (await api(server.url, 'company-b'))('/me')).body.userId
  const before = await asCompanyA(id)
  assert.equal(before.state, 'in_public_notice')
  assert.equal(before.notice.onHold, true)
  assert.equal(before.notice.objections.length, 1, 'the second was refused')
  assert.equal(before.notice.objections[0].objector, undefined, 'the company is not told who')

  // The district: from its inbox to 公示, then to the held application.
  const district = await phone(browser, server.url, 'district-futian')
  await district.locator(sel('inbox-public-notice')).click()
  await district.waitForURL(/#\/public\/notices\?district=440304/)
  await district.locator(`${item(id)} ${sel('notice-handle')}`).click()
  await district.waitForURL(new RegExp(`/applications/${id}$`))
  await district.locator(sel('notice-panel')).waitFor()
  assert.equal(await stateOf(district), 'in_public_notice')
  assert.equal(await text(district, sel('app-state')), '公示中')
  assert.equal(await text(district, sel('notice-status')), '异议处理中')
  assert.match(await text(district, sel('notice-hold-hint')), /有 1 件异议待处理/)
  const o = district.locator(sel('objection-1'))
  assert.equal(await o.getAttribute('data-resolution'), 'pending')
  assert.equal(await text(o, sel('objection-reason')), '该小区疫情期间由业委会自行管理，企业未实际提供防控服务')
  assert.equal(await text(o, sel('objection-objector')), `异议人：${objector}（物业服务企业）`)
  const window = district.locator(sel('notice-window'))
  const to = await window.getAttribute('data-to')
  assert.equal(to, chinaDate(Date.parse(before.notice.endsAt) - 1))
  await showFromTop(district, sel('notice-hold-hint'))
  await shot(district, '57-district-objection')

  await district.locator(sel('dismiss-objection')).click()
  await popup(district).waitFor()
  assert.match(await text(popup(district), sel('reason-hint')), /公示期不重新计算/)
  await popup(district).locator(`${sel('reason')} textarea`).fill('经现场核查，企业疫情期间按合同提供了防控服务，异议不成立')
  await popup(district).locator(sel('reason-confirm')).click()
  assert.equal(await toast(district), '已处理：异议不成立')
  await until('the objection to show dismissed', async () => (await o.getAttribute('data-resolution')) === 'dismissed')
  assert.equal(await stateOf(district), 'in_public_notice')
  assert.equal(await text(district, sel('notice-status')), '公示中')
  assert.equal(await text(o, sel('objection-resolution')), '异议不成立')
  assert.equal(await district.locator(sel('objection-actions')).count(), 0)
  assert.equal(await window.getAttribute('data-to'), to, 'the window is not restarted')
  await until('the timeline to record it', async () => /异议不成立/.test(await text(district, sel('timeline'))))
  const trail = await text(district, sel('timeline'))
  assert.match(trail, /异议\s+物业服务企业/)
  assert.match(trail, /异议不成立\s+区（审核）/)
  const after = await asCompanyA(id)
  assert.equal(after.notice.endsAt, before.notice.endsAt)
  assert.equal(after.notice.onHold, false)
  assert.equal((await publicList()).items.find((i) => i.applicationId === id).onHold, false)
  assert.deepEqual(district.errors, [])
  await district.context().close()

  // The company: the panel and the objection, never who made it.
  const owner = await phone(browser, server.url, 'company-a')
  await owner.goto(`${server.url}/#/applications/${id}`)
  await owner.locator(sel('notice-panel')).waitFor()
  await owner.locator(sel('objection-1')).waitFor()
  assert.equal(await text(owner, sel('notice-status')), '公示中')
  assert.equal(await text(owner, `${sel('objection-1')} ${sel('objection-resolution')}`), '异议不成立')
  assert.equal(await owner.locator(sel('objection-objector')).count(), 0)
  assert.equal(await owner.locator(sel('objection-actions')).count(), 0)
  await owner.locator(`${sel('timeline')} [data-action="object"]`).waitFor()
  assert.equal(await text(owner, `${sel('timeline')} [data-action="object"] ${sel('timeline-who')}`), '异议人')
  const seen = await owner.locator('body').innerText()
  assert.ok(!seen.includes(objector), 'the objector’s id is on the company’s page')
  assert.ok(!seen.includes('鹏城'), 'the objector’s company is on the company’s page')
  await showFromTop(owner, sel('notice-panel'))
  await shot(owner, '58-company-notice-dismissed')
  assert.deepEqual(owner.errors, [])
  await owner.context().close()
})

test('(c) an upheld objection returns the application to the district review', async () => {
  const id = ids.returned
  const objecting = await api(server.url, 'company-b')
  const r = await objecting(`/public/notices/${id}/objections`, { method: 'POST', body: { reason: '申报面积含商业用房' } })
  assert.equal(r.status, 201, JSON.stringify(r.body))

  // The objector, on the page: 我的异议, and a file attached from there.
  const objector = await phone(browser, server.url, 'company-b')
  await objector.goto(`${server.url}/#/public/notices?district=${DISTRICT}`)
  await objector.locator(`${item(id)} ${sel('notice-mine')}`).click()
  const mine = objector.locator(sel('mine-popup'))
  await mine.locator(sel('mine-objection')).waitFor()
  assert.equal(await text(mine, `${sel('mine-reason')} .van-cell__label`), '申报面积含商业用房')
  assert.equal(await text(mine, sel('mine-no-documents')), '未上传异议材料')
  assert.equal(await text(mine, sel('mine-slots')), '还可上传 5 份（每人最多 5 份，未通过校验的不计入）')
  await mine.locator(sel('mine-attach')).click()
  const sheet = objector.locator(sel('evidence-popup'))
  await sheet.waitFor()
  await objector.setInputFiles(sel('evidence-file'), { name: '商业用房照片.pdf', mimeType: 'application/pdf', buffer: pdf(500) })
  assert.equal(await toast(objector), '已上传「商业用房照片.pdf」')
  await sheet.locator(sel('evidence-done')).click()
  await sheet.waitFor({ state: 'hidden' })
  const file = mine.locator(sel('mine-doc-商业用房照片.pdf'))
  await until('the view to show the file as checked', async () => (await file.getAttribute('data-status')) === 'verified')
  assert.equal(await text(file, sel('mine-doc-status')), '已校验')
  assert.equal(await text(mine, sel('mine-slots')), '还可上传 4 份（每人最多 5 份，未通过校验的不计入）')
  await objector.locator(`${item(id)} ${sel('notice-objected')}`).waitFor()
  assert.deepEqual(objector.errors, [])
  await objector.context().close()

  const page = await phone(browser, server.url, 'district-futian')
  await page.goto(`${server.url}/#/applications/${id}`)
  await page.locator(sel('objection-actions')).waitFor()
  await page.locator(sel('return-after-objection')).click()
  await popup(page).locator(`${sel('reason')} textarea`).fill('经核实，申报面积含商业用房，异议成立')
  await popup(page).locator(sel('reason-confirm')).click()
  assert.equal(await text(page, '.van-dialog__message'), '确定异议成立，将申请退回区级审核？')
  await confirmDialog(page)
  assert.equal(await toast(page), '已退回区级审核')
  await until('the application to be back at 审核', async () => (await stateOf(page)) === 'pending_district')
  assert.equal(await text(page, sel('app-state')), '区级审核中')
  assert.equal(await text(page, sel('notice-status')), '异议成立，已退回区级审核')
  assert.equal(await text(page, `${sel('objection-1')} ${sel('objection-resolution')}`), '异议成立，退回审核')
  await page.locator(sel('review-actions')).waitFor() // the district decides again
  await until('the timeline to record it', async () => /异议成立，退回区级审核/.test(await text(page, sel('timeline'))))

  const back = await asCompanyA(id)
  assert.equal(back.state, 'pending_district')
  assert.equal(back.approvedAmount, null)
  assert.ok(!(await publicList()).items.some((i) => i.applicationId === id), 'off the public notice')
  // The objector's own objection: upheld, and the notice over.
  const own = (await objecting(`/public/notices/${id}/objections/mine`)).body
  assert.deepEqual(
    [own.resolution, own.resolutionReason, own.ended, own.documents.map((d) => [d.fileName, d.status])],
    ['returned_to_review', '经核实，申报面积含商业用房，异议成立', true, [['商业用房照片.pdf', 'verified']]],
  )
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('(d) an objector attaches evidence after objecting; the district sees it, the company never does', async () => {
  const id = (ids.held = await publish(...HELD))
  const objector = await api(server.url, 'company-b')
  const ticket = (body) => objector(`/applications/${id}/documents`, { method: 'POST', body })
  const evidence = (fileName, size = pdf().length) => ({ kind: 'objection_evidence', fileName, contentType: 'application/pdf', size })
  // Before objecting: not theirs to attach to.
  const early = await ticket(evidence('提前.pdf'))
  assert.deepEqual([early.status, early.body?.error?.code], [404, 'not_found'], JSON.stringify(early.body))

  const page = await phone(browser, server.url, 'company-b')
  await page.goto(`${server.url}/#/public/notices?district=${DISTRICT}`)
  await page.locator(item(id)).waitFor()
  assert.equal(await page.locator(`${item(id)} ${sel('notice-attach')}`).count(), 0, 'no evidence before objecting')
  await page.locator(`${item(id)} ${sel('notice-object')}`).click()
  await popup(page).locator(`${sel('reason')} textarea`).fill('该项目疫情期间物业服务由街道临时安排，企业未派驻人员')
  await popup(page).locator(sel('reason-confirm')).click()
  assert.equal(await toast(page), '已提交异议')
  // Offered now: 上传异议材料.
  await page.locator(`${item(id)} ${sel('notice-attach')}`).click()
  const sheet = page.locator(sel('evidence-popup'))
  await sheet.waitFor()
  assert.equal(await text(sheet, 'h3'), '上传异议材料')
  assert.match(await text(sheet, sel('evidence-hint')), /最多 5 份.*不会提供给申报企业/)
  // Not a PDF inside, though named one: refused here, nothing sent.
  await page.setInputFiles(sel('evidence-file'), { name: '伪装.pdf', mimeType: 'application/pdf', buffer: png() })
  assert.equal(await toast(page), '文件 伪装.pdf 的内容不是 PDF、JPG 或 PNG（与文件名不符），未上传')
  await page.setInputFiles(sel('evidence-file'), { name: '现场情况说明.pdf', mimeType: 'application/pdf', buffer: pdf(2000) })
  await sheet.locator(sel('evidence-现场情况说明.pdf')).waitFor()
  assert.equal(await text(sheet, `${sel('evidence-现场情况说明.pdf')} .van-tag`), '已上传')
  await until('the toasts to go', async () => (await page.locator('.van-toast:visible').count()) === 0)
  await shot(page, '59-public-notice-evidence')

  // Three more through the API make four; a "PDF" that is a PNG inside is
  // refused by the server's check and takes no place: a fifth is taken, and
  // a sixth is refused, and said so.
  for (let n = 2; n <= 4; n++) await uploadVia(objector, id, 'objection_evidence', `补充材料${n}.pdf`, 'application/pdf', pdf())
  const photo = png()
  const bad = await ticket({ kind: 'objection_evidence', fileName: '现场照片.pdf', contentType: 'application/pdf', size: photo.length })
  assert.equal(bad.status, 201, JSON.stringify(bad.body))
  const put = await fetch(bad.body.upload.url, { method: bad.body.upload.method, headers: Object.fromEntries(bad.body.upload.headers), body: photo })
  assert.equal(put.ok, false, 'the check refuses it')
  await uploadVia(objector, id, 'objection_evidence', '补充材料5.pdf', 'application/pdf', pdf())
  await page.setInputFiles(sel('evidence-file'), { name: '第六份.pdf', mimeType: 'application/pdf', buffer: pdf() })
  assert.equal(await toast(page), '每人对每项公示最多上传 5 份异议材料，已达上限')
  await sheet.locator(sel('evidence-limit')).waitFor()
  assert.equal(await sheet.locator(sel('evidence-file')).count(), 0, 'no more offered')
  await sheet.locator(sel('evidence-done')).click()
  await sheet.waitFor({ state: 'hidden' })
  // The objector still cannot read the application.
  assert.equal((await objector(`/applications/${id}`)).status, 404)

  // After a reload the page knows nothing, until 我的异议: the objection,
  // and each file as the server's check left it.
  await page.reload()
  await page.locator(item(id)).waitFor()
  assert.equal(await page.locator(`${item(id)} ${sel('notice-objected')}`).count(), 0, 'not known before asking')
  await page.locator(`${item(id)} ${sel('notice-mine')}`).click()
  const mine = page.locator(sel('mine-popup'))
  await mine.locator(sel('mine-objection')).waitFor()
  assert.equal(await text(mine, 'h3'), '我的异议')
  assert.equal(await text(mine, `${sel('mine-reason')} .van-cell__label`), '该项目疫情期间物业服务由街道临时安排，企业未派驻人员')
  assert.equal(await text(mine, sel('mine-status')), '处理中')
  assert.match(await text(mine, `${sel('mine-at')} .van-cell__value`), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/)
  const files = mine.locator(sel('mine-documents'))
  assert.equal(await files.getAttribute('data-count'), '6')
  const first = files.locator(sel('mine-doc-现场情况说明.pdf'))
  assert.equal(await first.getAttribute('data-status'), 'verified')
  assert.equal(await text(first, sel('mine-doc-status')), '已校验')
  const refused = files.locator(sel('mine-doc-现场照片.pdf'))
  assert.equal(await text(refused, sel('mine-doc-status')), '未通过')
  assert.equal(await text(refused, sel('mine-doc-refusal')), '未通过：文件内容是 image/png，与申报的 application/pdf 不符')
  assert.equal(await files.locator(`${sel('mine-doc-status')}[data-status="verified"]`).count(), 5)
  // Five held (the refused one holds no place): no more offered.
  assert.equal(await text(mine, sel('mine-slots')), '已达上限 5 份（未通过校验的不计入）')
  assert.equal(await mine.locator(sel('mine-attach')).count(), 0)
  // The page knows now that it objected.
  await page.locator(`${item(id)} ${sel('notice-objected')}`).waitFor()
  await shot(page, '61-public-notice-mine')
  await mine.locator(sel('mine-close')).click()
  await mine.waitFor({ state: 'hidden' })
  assert.deepEqual(page.errors, [])
  await page.context().close()

  // Someone who never objected: told so, and shown nothing.
  const stranger = await phone(browser, server.url, 'company-a')
  await stranger.goto(`${server.url}/#/public/notices?district=${DISTRICT}`)
  await stranger.locator(`${item(id)} ${sel('notice-mine')}`).click()
  const none = stranger.locator(sel('mine-popup'))
  assert.equal(await text(none, sel('mine-none')), '您尚未对此项提出异议')
  assert.equal(await none.locator(`${sel('mine-objection')}, ${sel('mine-documents')}, ${sel('mine-attach')}`).count(), 0)
  assert.equal(await stranger.locator(`${item(id)} ${sel('notice-objected')}`).count(), 0)
  assert.deepEqual(stranger.errors, [])
  await stranger.context().close()

  // The district: the 异议材料, checked, to open; the upload on the timeline.
  const district = await phone(browser, server.url, 'district-futian')
  await district.goto(`${server.url}/#/applications/${id}`)
  const group = district.locator(`${sel('documents')} ${sel('doc-kind-objection_evidence')}`)
  await group.waitFor()
  assert.equal(await text(group, '.van-cell__title'), '异议材料')
  const row = group.locator(sel('doc-现场情况说明.pdf'))
  await until('the document to be checked', async () => (await row.locator('[data-status]').getAttribute('data-status')) === 'verified')
  assert.equal(await group.locator('[data-kind="objection_evidence"]').count(), 6, 'the refused one is listed too')
  assert.equal(await row.locator(sel('doc-delete')).count(), 0, 'nobody deletes evidence')
  await row.locator(sel('doc-view')).click()
  await district.locator(`${sel('doc-viewer')} iframe`).waitFor()
  await district.locator('.van-popup:visible .van-popup__close-icon').click()
  const upload = district.locator(`${sel('timeline')} [data-action="upload_document"]`, { hasText: '现场情况说明.pdf' })
  assert.equal(await text(upload, 'strong'), '上传材料')
  assert.match(await text(upload, sel('timeline-comment')), /^异议材料 现场情况说明\.pdf/)
  assert.equal(await text(upload, sel('timeline-who')), '物业服务企业')
  assert.deepEqual(district.errors, [])
  await district.context().close()

  // The company: no 异议材料, not on the page, not in the API, not on the timeline.
  const seen = await asCompanyA(id)
  assert.deepEqual(seen.documents.map((d) => d.kind).sort(), ['area_proof', 'service_contract'])
  const owner = await phone(browser, server.url, 'company-a')
  await owner.goto(`${server.url}/#/applications/${id}`)
  await owner.locator(sel('notice-panel')).waitFor()
  await owner.locator(`${sel('documents')} ${sel('doc-kind-service_contract')}`).waitFor()
  assert.equal(await owner.locator(sel('doc-kind-objection_evidence')).count(), 0)
  await owner.locator(`${sel('timeline')} [data-action="object"]`).waitFor()
  assert.equal(await text(owner, `${sel('timeline')} [data-action="object"] ${sel('timeline-who')}`), '异议人')
  const body = await owner.locator('body').innerText()
  for (const secret of ['现场情况说明', '补充材料', '异议材料']) assert.ok(!body.includes(secret), `the company’s page shows ${secret}`)
  assert.deepEqual(owner.errors, [])
  await owner.context().close()
})

test('(e) six days on, the nightly job closes the notices: approved, payable, off the list; a held one stays, ended', async () => {
  const district = await api(server.url, 'district-futian')
  // The dashboard counts what is in 公示 as the API does.
  const stats = (await district(`/stats/${DISTRICT}`)).body
  assert.equal(stats.totals.counts.inPublicNotice, 3)
  const dash = await phone(browser, server.url, 'district-futian')
  await dash.locator(sel('tab-dashboard')).click()
  await dash.locator(sel('count-inPublicNotice')).waitFor()
  assert.equal(await text(dash, sel('count-inPublicNotice')), '3')
  assert.match(await text(dash, sel('counts')), /3\s+公示中/)
  await dash.context().close()

  assert.equal((await publicList()).items.length, 3)
  await server.restart('--clock-offset-days', '6', '--nightly-every-hours', '24')
  const company = await api(server.url, 'company-a')
  await until('the nightly job to close the notices', async () => {
    const states = await Promise.all([ids.quiet, ids.dismissed].map(async (id) => (await company(`/applications/${id}`)).body.state))
    return states.every((s) => s === 'approved')
  }, 30_000)
  assert.equal((await company(`/applications/${ids.returned}`)).body.state, 'pending_district', 'the returned one waits for the district')

  // The held one stays, its window ended: 公示期满, and no objection offered.
  const left = (await publicList()).items
  assert.deepEqual(left.map((i) => [i.applicationId, i.ended, i.onHold]), [[ids.held, true, true]])
  const objector = await phone(browser, server.url, 'company-b')
  await objector.goto(`${server.url}/#/public/notices?district=${DISTRICT}`)
  const held = objector.locator(item(ids.held))
  await held.waitFor()
  assert.equal(await held.getAttribute('data-ended'), 'true')
  assert.equal(await text(held, sel('notice-ended')), '公示期满')
  assert.equal(await text(held, sel('notice-on-hold')), '异议处理中')
  assert.equal(await held.locator(`${sel('notice-object')}, ${sel('notice-attach')}`).count(), 0)
  // 我的异议: still waiting, and the notice over for evidence.
  await held.locator(sel('notice-mine')).click()
  const mine = objector.locator(sel('mine-popup'))
  await mine.locator(sel('mine-objection')).waitFor()
  assert.equal(await mine.locator(sel('mine-objection')).getAttribute('data-ended'), 'true')
  assert.equal(await text(mine, sel('mine-status')), '处理中')
  assert.equal(await text(mine, sel('mine-slots')), '公示已结束，不能再上传异议材料')
  assert.equal(await mine.locator(sel('mine-attach')).count(), 0)
  assert.deepEqual(objector.errors, [])
  await objector.context().close()
  // Nor evidence, now.
  const late = await (await api(server.url, 'company-b'))(`/applications/${ids.held}/documents`, {
    method: 'POST',
    body: { kind: 'objection_evidence', fileName: '迟到.pdf', contentType: 'application/pdf', size: 100 },
  })
  assert.deepEqual([late.status, late.body?.error?.code], [409, 'notice_closed'], JSON.stringify(late.body))
  // Dismissed after its window: approved at once, and off the list.
  const reviewer = await api(server.url, 'district-futian') // the server moved to a new port
  await act(reviewer, ids.held, '/review/district/applications/{id}/resolve-objections', { outcome: 'dismiss', reason: '经核查，异议不成立' })
  assert.equal((await company(`/applications/${ids.held}`)).body.state, 'approved')
  assert.deepEqual((await publicList()).items, [])

  const trail = (await company(`/applications/${ids.quiet}/timeline`)).body
  const close = trail.find((e) => e.action === 'close_notice')
  assert.ok(close, JSON.stringify(trail.map((e) => e.action)))
  assert.deepEqual([close.actorId, close.from, close.to], ['system', 'in_public_notice', 'approved'])

  // Anyone: the list is empty now.
  const page = await phone(browser, server.url, null)
  await page.locator(sel('public-notice-link')).click()
  assert.equal(await text(page, `${sel('empty')} .van-empty__description`), '福田区目前没有正在公示的申请')
  assert.equal(await page.locator(item(ids.quiet)).count(), 0)
  await page.context().close()

  // The company: approved, the notice over, 公示期满 by the system.
  const owner = await phone(browser, server.url, 'company-a')
  await owner.goto(`${server.url}/#/applications/${ids.quiet}`)
  await owner.locator(sel('notice-panel')).waitFor()
  assert.equal(await stateOf(owner), 'approved')
  assert.equal(await text(owner, sel('notice-status')), '公示结束')
  assert.equal(await text(owner, sel('no-objections')), '暂未收到异议')
  assert.equal(await text(owner, `${sel('timeline')} [data-action="close_notice"] strong`), '公示期满')
  assert.equal(await text(owner, `${sel('timeline')} [data-action="close_notice"] ${sel('timeline-who')}`), '系统')
  assert.deepEqual(owner.errors, [])
  await owner.context().close()

  // Payable: finance lists both.
  const finance = await api(server.url, 'finance-futian')
  await until('finance to list them', async () => {
    const eligible = (await finance('/disbursement/eligible')).body
    return [ids.quiet, ids.dismissed].every((id) => eligible.items.some((a) => a.id === id))
  })
})
