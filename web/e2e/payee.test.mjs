// Payee integrity through the screens: the account an application is to be
// paid to is fixed at submission. The company changes its bank account on
// the profile screen while the application is in review, to one held by
// another name; everyone sees that a change waits, masked. The district
// reviewer opens the account in full (an audited view), is warned that the
// holder is not the company, confirms having checked it, and verifies; only
// then can finance pay it. The full number never reaches the company's or
// the community's pages, nor outlives the reviewer's page.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, keepFailedScreens, launch, pdf, phone, png, sel, shot, shotFull, startServer, text, toast, until, uploadVia } from './lib.mjs'

let server
let browser
let appId

const ON_FILE = '4000021234567890123' // the demo company's account, reviewed since submission
const NEW = '6225880112345678' // the change, held by 张三
const grouped = (n) => n.replace(/(.{4})(?=.)/g, '$1 ')
const FULL = [ON_FILE, grouped(ON_FILE), NEW, grouped(NEW)]

before(async () => {
  server = await startServer()
  browser = await launch()
})
afterEach(async (t) => keepFailedScreens(t.name))
after(async () => {
  await browser?.close()
  await server?.stop()
})

/** Neither full number anywhere in the page: not in its text, not in its markup, not in its storage. */
async function assertNoFullNumber(page, who) {
  const seen = await page.evaluate(() => ({
    text: document.body.innerText,
    html: document.documentElement.outerHTML,
    storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
  }))
  for (const n of FULL) {
    for (const [where, s] of Object.entries(seen)) assert.ok(!s.includes(n), `${who}: the full number ${n} is in the page's ${where}`)
  }
}

async function act(who, path) {
  const call = await api(server.url, who)
  const { version } = (await call(`/applications/${appId}`)).body
  const r = await call(path, { method: 'POST', body: { version } })
  assert.equal(r.status, 200, `${who} ${path}: ${JSON.stringify(r.body)}`)
  return r.body
}

async function openDetail(page) {
  await page.goto(`${server.url}/#/applications/${appId}`)
  await page.locator(sel('app-head')).waitFor()
}

test('the company changes its bank account while its application is in review; the change waits, masked', async () => {
  // An application submitted with the account on file, through 初审.
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
  await act('company-a', `/applications/${appId}/submit`)
  await act('pm-a', `/applications/${appId}/confirm-area`)
  const reviewed = await act('community-nanyuan', `/review/community/applications/${appId}/approve`)
  assert.equal(reviewed.state, 'pending_subdistrict')
  assert.equal(reviewed.payee.accountNumberMasked, '****0123', 'the payee is fixed at submission')

  // The company changes its account on the profile screen, to one held by a person.
  const page = await phone(browser, server.url, 'company-a')
  await page.locator(sel('tab-company')).click()
  await page.locator(sel('company-edit')).click()
  assert.match(await text(page, sel('company-form')), /变更记入该申请的办理进度，须经区级核验新账户后方可拨付/)
  await page.locator(`${sel('bankName')} input`).fill('招商银行深圳分行')
  await page.locator(`${sel('accountName')} input`).fill('张三')
  await page.locator(`${sel('accountNumber')} input`).fill(NEW)
  await page.locator(sel('company-save')).click()
  assert.equal(await toast(page), '企业信息已保存')
  await page.locator(sel('account-masked')).waitFor()
  assert.equal(await text(page, `${sel('account-masked')} .van-cell__value`), '****5678')
  await assertNoFullNumber(page, 'company profile')

  // The list says a change waits; the detail says so and why, and the trail records it masked.
  await page.locator(sel('tab-applications')).click()
  await page.locator(`[data-project="南园花园"] ${sel('payee-pending-chip')}`).waitFor()
  await page.locator('[data-project="南园花园"]').click()
  await page.locator(sel('payee-change-notice')).waitFor()
  assert.match(await text(page, sel('payee-change-notice')), /收款账户已变更，待区级核验[\s\S]*区级核验新账户后方可拨付/)
  assert.match(await text(page, sel('payee')), /\*\*\*\*0123/, 'the reviewed account stands until verified')
  assert.match(await text(page, sel('timeline')), /企业变更收款账户[\s\S]*招商银行深圳分行 张三 \*\*\*\*5678/)
  await assertNoFullNumber(page, 'company detail')
  await page.locator('.van-toast').waitFor({ state: 'hidden' })
  await shot(page, '42-company-payee-change-pending')
  assert.deepEqual(page.errors, [])
  await page.context().close()

  // 复核 approves: the application reaches the district with the change waiting.
  const atDistrict = await act('subdistrict-nanyuan', `/review/subdistrict/applications/${appId}/approve`)
  assert.deepEqual([atDistrict.state, atDistrict.payeeChangePending], ['pending_district', true])
})

test('the community sees that a change waits, and nothing to open', async () => {
  const page = await phone(browser, server.url, 'community-nanyuan')
  await openDetail(page)
  assert.match(await text(page, sel('payee-change-notice')), /收款账户已变更，待区级核验/)
  assert.equal(await page.locator(`${sel('payee-verify')}, ${sel('reveal-bank')}, ${sel('verify-bank')}`).count(), 0)
  await assertNoFullNumber(page, 'community detail')
  const call = await api(server.url, 'community-nanyuan')
  const { version } = (await call(`/applications/${appId}`)).body
  const r = await call(`/review/community/applications/${appId}/reveal-bank-account`, { method: 'POST', body: { version } })
  assert.deepEqual([r.status, r.body.error.code], [404, 'not_found'], 'only the district opens an account')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the district opens the account in full, confirms a holder who is not the company, and verifies it', async () => {
  const page = await phone(browser, server.url, 'district-futian')
  // The inbox marks the application; its pre-checks (run when it arrived) name the change.
  await until('the district inbox to show the application', async () => {
    await page.reload()
    await page.locator(`${sel('review-inbox')}, ${sel('empty')}`).first().waitFor()
    return (await page.locator('[data-project="南园花园"]').count()) > 0
  })
  await page.locator(`[data-project="南园花园"] ${sel('payee-pending-chip')}`).waitFor()
  await page.locator('[data-project="南园花园"]').click()
  await until('the district pre-checks to name the change', async () => {
    await page.locator(sel('prechecks')).waitFor()
    if (/收款账户已变更/.test(await text(page, sel('prechecks')))) return true
    await page.reload()
    return false
  })
  const checks = await text(page, sel('prechecks'))
  assert.match(checks, /提交后收款账户已变更为 招商银行深圳分行 张三（\*\*\*\*5678）/)
  assert.match(checks, /户名「张三」与企业名称「深圳市安居物业服务有限公司」不一致/)
  assert.match(await text(page, sel('payee-change-notice')), /收款账户已变更，待区级核验/)
  assert.equal(await page.locator(sel('precheck-settled')).count(), 0)

  // Before the account is opened there is nothing to verify with, and the server agrees.
  await page.locator(sel('reveal-bank')).waitFor()
  assert.equal(await page.locator(sel('verify-bank')).count(), 0)
  assert.match(await text(page, sel('reveal-audited')), /查看将记入审核留痕/)
  await assertNoFullNumber(page, 'district before opening')
  const district = await api(server.url, 'district-futian')
  const before = (await district(`/applications/${appId}`)).body
  const refused = await district(`/review/district/applications/${appId}/verify-bank-account`, {
    method: 'POST',
    body: { version: before.version, confirmHolderName: true },
  })
  assert.deepEqual([refused.status, refused.body.error.code], [409, 'reveal_required'])

  // Opened: both accounts in full, grouped by four; the holder warning; verify waits for the box.
  await page.locator(sel('reveal-bank')).click()
  await page.locator(sel('revealed-change')).waitFor()
  assert.equal(await text(page, `${sel('revealed-change')} ${sel('full-number')}`), '6225 8801 1234 5678')
  assert.equal(await text(page, `${sel('revealed-on-file')} ${sel('full-number')}`), '4000 0212 3456 7890 123')
  assert.equal(await text(page, `${sel('revealed-change')} ${sel('revealed-holder')}`), '张三')
  const font = await page.locator(`${sel('revealed-change')} ${sel('full-number')}`).evaluate((el) => getComputedStyle(el).fontFamily)
  assert.match(font, /mono/i)
  assert.match(await text(page, sel('holder-mismatch')), /户名与企业名称不一致[\s\S]*张三[\s\S]*深圳市安居物业服务有限公司/)
  assert.match(await text(page, sel('revealed-audited')), /已记入审核留痕/)
  assert.ok(await page.locator(sel('verify-bank')).isDisabled(), 'verify waits for the holder to be confirmed')
  // Nor does the server take it without the confirmation.
  const unconfirmed = await district(`/review/district/applications/${appId}/verify-bank-account`, {
    method: 'POST',
    body: { version: (await district(`/applications/${appId}`)).body.version },
  })
  assert.deepEqual([unconfirmed.status, unconfirmed.body.error.code, unconfirmed.body.error.field], [422, 'holder_name_unconfirmed', 'confirmHolderName'])
  // The whole section in view, under the page's title bar.
  await page.locator(sel('payee-verify')).evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 90))
  await shot(page, '40-district-payee-reveal')

  // Leaving the page forgets the number: back at the detail it is to be opened again.
  await page.goBack()
  await page.waitForURL(/review\/inbox/)
  await assertNoFullNumber(page, 'district inbox after leaving')
  await page.locator('[data-project="南园花园"]').click()
  await page.locator(sel('reveal-bank')).waitFor()
  assert.equal(await page.locator(sel('full-number')).count(), 0)
  await assertNoFullNumber(page, 'district detail after coming back')

  await page.locator(sel('reveal-bank')).click()
  await page.locator(sel('holder-mismatch')).waitFor()
  assert.ok(await page.locator(sel('verify-bank')).isDisabled())
  await page.locator(sel('confirm-holder')).click()
  assert.ok(await page.locator(sel('verify-bank')).isEnabled(), 'verify once the holder is confirmed')
  await page.locator(sel('verify-bank')).click()
  assert.equal(await toast(page), '收款账户已核验')
  await page.locator(sel('payee-verify')).waitFor({ state: 'detached' })
  await page.locator(sel('payee-change-notice')).waitFor({ state: 'detached' })
  const payee = await text(page, sel('payee'))
  assert.match(payee, /招商银行深圳分行 \*\*\*\*5678/, 'the verified change is the payee, masked')
  assert.match(payee, /张三/)
  const trail = await text(page, sel('timeline'))
  assert.equal(trail.match(/区级查看完整收款账号/g)?.length, 2, 'each opening is on the trail')
  assert.match(trail, /区级核验收款账户/)
  // The pre-checks made on arrival are marked settled by the verification.
  assert.equal(await page.locator(sel('precheck-settled')).count(), 2)
  await assertNoFullNumber(page, 'district after verifying')
  await page.locator('.van-toast').waitFor({ state: 'hidden' })
  await page.evaluate(() => window.scrollTo(0, 0))
  await shotFull(page, '41-district-payee-verified')

  const after = (await district(`/applications/${appId}`)).body
  assert.deepEqual([after.state, after.payeeChangePending, after.payee.accountName], ['pending_district', false, '张三'])

  // The district's review goes on: approved, it is payable at once.
  await page.locator(sel('approve')).click()
  await page.locator(sel('approve-confirm')).click()
  await page.waitForURL(/review\/inbox/)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('finance can pay it, and the company never saw the full number', async () => {
  const finance = await phone(browser, server.url, 'finance-futian')
  await until('the verified application to be payable', async () => {
    await finance.reload()
    await finance.locator(sel('eligible-summary')).waitFor()
    return (await finance.locator(sel(`eligible-${appId}`)).count()) > 0
  })
  assert.match(await text(finance, sel(`eligible-${appId}`)), /南园花园[\s\S]*招商银行深圳分行 \*\*\*\*5678/)
  assert.equal(await finance.locator(`${sel('eligible')} .warn`).count(), 0, 'nothing blocked by a bank change')
  await assertNoFullNumber(finance, 'finance home')
  await finance.context().close()

  const page = await phone(browser, server.url, 'company-a')
  await page.locator('[data-project="南园花园"] .state-tag[data-state="approved"]').waitFor()
  assert.equal(await page.locator(sel('payee-pending-chip')).count(), 0)
  await openDetail(page)
  assert.equal(await page.locator(sel('payee-change-notice')).count(), 0)
  assert.match(await text(page, sel('timeline')), /区级核验收款账户/)
  await assertNoFullNumber(page, 'company after verification')
  await page.goto(`${server.url}/#/company/profile`)
  await page.locator(sel('account-masked')).waitFor()
  await assertNoFullNumber(page, 'company profile after verification')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})
