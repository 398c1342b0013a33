// The whole lifecycle through the phone screens, one role after another:
// the company applies with uploaded documents, the project manager
// confirms, 初审 approves, 复核 returns for correction (退回补正), the
// company corrects and resubmits, the three tiers approve (审核 lowering
// the area), the dashboard shows the totals, finance batches, a second
// finance user releases (only then is there a treasury file to download),
// finance reconciles, and the company sees "paid". Each screen is saved for
// the operations manual (docs/manual/).

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { api, confirmDialog, keepFailedScreens, launch, pdf, phone, png, sel, shot, shotFull, startServer, text, until } from './lib.mjs'

let server
let browser
let appId
let batchId

before(async () => {
  server = await startServer()
  browser = await launch()
})
afterEach(async (t) => keepFailedScreens(t.name))
after(async () => {
  await browser?.close()
  await server?.stop()
})

/** Opens an application's detail from a list by its project name. */
async function openApp(page, project) {
  await page.locator(`[data-project="${project}"]`).first().click()
  await page.locator(sel('app-head')).waitFor()
}

async function stateOf(page) {
  return page.locator(`${sel('app-head')} .state-tag`).getAttribute('data-state')
}

test('the login page offers every demo account, in Chinese first and in English', async () => {
  const page = await phone(browser, server.url)
  await page.locator(sel('account-company-a')).waitFor()
  assert.match(await text(page, 'h1'), /物业服务企业疫情防控服务财政补助/)
  await shot(page, '01-login')
  await page.locator(sel('lang-en')).click()
  assert.match(await text(page, 'h1'), /subsidy for property-management companies/)
  await shot(page, '01-login-en')
  await page.locator(sel('lang-zh')).click()
  assert.match(await text(page, 'h1'), /物业服务企业/)
  await page.context().close()
})

test('a company applies for a project with uploaded documents and submits', async () => {
  const page = await phone(browser, server.url, 'company-a')
  await page.locator(sel('application-new')).waitFor()
  await shot(page, '02-company-applications-empty')

  await page.locator(sel('tab-company')).click()
  await page.locator(sel('account-masked')).waitFor()
  assert.equal(await text(page, `${sel('account-masked')} .van-cell__value`), '****0123')
  await shot(page, '03-company-profile')

  await page.locator(sel('tab-projects')).click()
  await page.locator(sel('project-南园花园')).waitFor()
  await shot(page, '04-company-projects')

  await page.locator(sel('tab-applications')).click()
  await page.locator(sel('application-new')).click()
  await page.locator(sel('pick-南园花园')).click()
  await page.locator(`${sel('claimedArea')} input`).fill('52345.67')
  // The preview follows the area as it is typed: 0.5 元 × 2 months = 1 元/m².
  assert.equal(await text(page, sel('preview-amount')), '¥52,345.67')
  await page.locator(`${sel('claimedArea')} input`).fill('52345.6')
  assert.equal(await text(page, sel('preview-amount')), '¥52,345.60')
  await page.locator(`${sel('claimedArea')} input`).fill('52345.67')
  await page.locator(`${sel('note')} textarea`).fill('疫情期间在管面积以物业服务合同为准')
  await shot(page, '05-company-new-application')
  await page.locator(sel('create-draft')).click()
  await page.locator(sel('app-head')).waitFor()
  appId = page.url().split('/applications/')[1]
  assert.ok(appId, 'the draft has an id in the URL')
  assert.equal(await stateOf(page), 'draft')
  assert.match(await text(page, sel('missing-docs')), /物业服务合同/)

  await page.setInputFiles(sel('file-service_contract'), { name: '物业服务合同.pdf', mimeType: 'application/pdf', buffer: pdf(200_000) })
  await page.locator(`${sel('doc-物业服务合同.pdf')} [data-status="verified"]`).waitFor()
  await page.setInputFiles(sel('camera-area_proof'), { name: '面积证明.png', mimeType: 'image/png', buffer: png() })
  await page.locator(`${sel('doc-面积证明.png')} [data-status="verified"]`).waitFor()
  await page.locator(sel('missing-docs')).waitFor({ state: 'detached' })
  await shotFull(page, '06-company-draft-with-documents')

  // The uploaded image opens in the page.
  await page.locator(`${sel('doc-面积证明.png')} ${sel('doc-view')}`).click()
  await page.locator(`${sel('doc-viewer')} img`).waitFor()
  await shot(page, '07-document-viewer')
  await page.locator('.van-popup__close-icon').last().click()

  await page.locator(sel('submit')).click()
  await until('the application to await the manager', async () => (await stateOf(page)) === 'awaiting_area_confirmation')
  // The step's time limit (办理时限), not yet passed.
  const due = await text(page, sel('due-at'))
  assert.match(due, /^办理时限 \d{4}-\d{2}-\d{2} 00:00$/, due)
  assert.equal(await page.locator(sel('overdue-chip')).count(), 0)
  await shot(page, '08-company-submitted')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the project manager confirms the area', async () => {
  const page = await phone(browser, server.url, 'pm-a')
  await page.locator(sel('manager-inbox')).waitFor()
  await shot(page, '09-manager-inbox')
  await openApp(page, '南园花园')
  await page.locator(sel('confirm-area')).waitFor()
  await shot(page, '10-manager-confirm')
  await page.locator(sel('confirm-area')).click()
  await page.waitForURL(/manager\/inbox/)
  await page.locator(sel('empty')).waitFor()
  await page.context().close()
})

async function reviewerOpens(username, shotName) {
  const page = await phone(browser, server.url, username)
  // The pre-checks run when the application reaches the tier; the inbox
  // shows it once the dispatcher has routed it.
  await until(`${username}'s inbox to show the application`, async () => {
    await page.reload()
    await page.locator(`${sel('review-inbox')}, ${sel('empty')}`).first().waitFor()
    return (await page.locator('[data-project="南园花园"]').count()) > 0
  })
  if (shotName) await shot(page, shotName)
  await openApp(page, '南园花园')
  await page.locator(sel('review-actions')).waitFor()
  return page
}

async function approve(page) {
  await page.locator(sel('approve')).click()
  await page.locator(sel('approve-confirm')).click()
  await page.waitForURL(/review\/inbox/)
}

test('初审 approves; 复核 returns it for correction with a reason', async () => {
  const community = await reviewerOpens('community-nanyuan', '11-community-inbox')
  await shotFull(community, '12-community-review')
  await approve(community)
  await community.context().close()

  const sub = await reviewerOpens('subdistrict-nanyuan', null)
  await sub.locator(sel('return')).click()
  await sub.locator(`${sel('reason')} textarea`).fill('请补充盖章的物业服务合同首页')
  await shot(sub, '13-subdistrict-return')
  await sub.locator(sel('reason-confirm')).click()
  await sub.waitForURL(/review\/inbox/)
  await sub.context().close()
})

test('the company sees what to fix, corrects and resubmits', async () => {
  const page = await phone(browser, server.url, 'company-a')
  await page.locator('[data-project="南园花园"] .state-tag[data-state="returned"]').waitFor()
  await shot(page, '14-company-returned-list')
  await openApp(page, '南园花园')
  assert.match(await text(page, sel('fix-notice')), /请补充盖章的物业服务合同首页/)
  await shot(page, '15-company-fix-notice')

  await page.setInputFiles(sel('file-other'), { name: '合同首页（盖章）.pdf', mimeType: 'application/pdf', buffer: pdf(1000) })
  await page.locator(`${sel('doc-合同首页（盖章）.pdf')} [data-status="verified"]`).waitFor()
  await page.locator(sel('edit')).click()
  await page.locator(`${sel('edit-note')} textarea`).fill('已补充盖章合同首页')
  await page.locator(sel('edit-save')).click()
  await page.locator(sel('edit-form')).waitFor({ state: 'detached' })
  await page.locator(sel('submit')).click()
  // Same area, same manager: straight back to 初审.
  await until('the resubmission to reach 初审', async () => (await stateOf(page)) === 'pending_community')
  await page.context().close()
})

test('the three tiers approve the resubmission; 审核 lowers the area with a reason', async () => {
  const community = await reviewerOpens('community-nanyuan', null)
  // What changed since the return is shown to the reviewer.
  const changes = await text(community, sel('changes'))
  assert.match(changes, /请补充盖章的物业服务合同首页/)
  assert.match(changes, /备注已修改/)
  await community.locator(sel('changes')).scrollIntoViewIfNeeded()
  await shot(community, '16-community-changes-since-return')
  await approve(community)
  await community.context().close()

  const sub = await reviewerOpens('subdistrict-nanyuan', null)
  await approve(sub)
  await sub.context().close()

  const district = await reviewerOpens('district-futian', '17-district-inbox')
  await district.locator(sel('approve')).click()
  await district.locator(`${sel('approved-area')} input`).fill('50000.00')
  await district.locator(`${sel('approve-reason')} textarea`).fill('核减公共区域面积 2345.67 m²')
  await shot(district, '18-district-approve-lowered')
  await district.locator(sel('approve-confirm')).click()
  await district.waitForURL(/review\/inbox/)
  await district.context().close()

  const check = await api(server.url, 'company-a')
  const { body } = await check(`/applications/${appId}`)
  assert.equal(body.state, 'approved')
  assert.equal(body.approvedAmount, '50000.00')
})

test('the dashboard shows the new totals, drills down and downloads the 汇总表', async () => {
  const page = await phone(browser, server.url, 'district-futian')
  await page.locator(sel('tab-dashboard')).click()
  await page.waitForURL(/#\/dashboard/)
  await until('the approved amount to reach the dashboard', async () => {
    await page.reload()
    await page.locator(sel('stat-approved-amount')).waitFor()
    return (await text(page, sel('stat-approved-amount'))) === '5.00万'
  })
  assert.equal(await text(page, sel('stat-companies')), '1')
  assert.equal(await text(page, sel('stat-projects')), '1')
  assert.equal(await text(page, sel('stat-claimed-amount')), '5.23万')
  await page.locator(`${sel('funnel')} canvas`).waitFor()
  await shot(page, '19-dashboard-district')
  await shotFull(page, '19-dashboard-district-full')

  const download = page.waitForEvent('download')
  await page.locator(sel('report-csv')).click()
  const file = await download
  assert.match(file.suggestedFilename(), /^福田区汇总表-\d{4}-\d{2}-\d{2}\.csv$/)
  const csv = readFileSync(await file.path(), 'utf8')
  assert.ok(csv.startsWith('\uFEFF'), 'the CSV starts with a BOM for Excel')
  assert.match(csv, /南园街道/)

  await page.locator(sel('child-440304001')).click()
  await page.waitForURL(/dashboard\/440304001/)
  await until('the subdistrict totals', async () => (await text(page, sel('stat-projects'))) === '1')
  await shot(page, '20-dashboard-subdistrict')
  await page.context().close()
})

/**
 * A ready batch's page offers no download and says the file comes with the
 * release; the API agrees: 409 wrong_state, for the maker and the checker.
 */
async function noFileYet(page) {
  await page.locator(sel('file-after-release')).waitFor()
  assert.equal(await text(page, sel('file-after-release')), '复核发送后生成支付文件：须由另一位财政人员点击「复核并发送银行」，之后方可在此下载')
  assert.equal(await page.locator(`${sel('file-csv')}, ${sel('file-xlsx')}, ${sel('file-not-ready')}`).count(), 0)
  for (const who of ['finance-futian', 'finance-futian-2']) {
    const r = await (await api(server.url, who))(`/batches/${batchId}/file?format=csv`)
    assert.deepEqual([r.status, r.body.error.code], [409, 'wrong_state'], who)
  }
}

test('finance batches, a second finance user releases, downloads and reconciles', async () => {
  const maker = await phone(browser, server.url, 'finance-futian')
  await until('the approved application to be payable', async () => {
    await maker.reload()
    await maker.locator(sel('eligible-summary')).waitFor()
    return (await text(maker, sel('eligible-summary'))).startsWith('1 件')
  })
  assert.match(await text(maker, sel('eligible-summary')), /¥50,000\.00/)
  await shotFull(maker, '21-finance-home')
  await maker.locator(sel('batch-note')).locator('input').fill('第一批')
  await maker.locator(sel('create-batch')).click()
  await confirmDialog(maker)
  await maker.locator(sel('batch-head')).waitFor()
  batchId = maker.url().split('/batches/')[1]
  assert.equal(await maker.locator(sel('batch-state')).getAttribute('data-state'), 'ready')
  assert.equal(await text(maker, sel('batch-total')), '¥50,000.00')
  // Maker-checker: the creator cannot release.
  await maker.locator(sel('maker-checker')).waitFor()
  assert.equal(await maker.locator(sel('release')).count(), 0)
  // No treasury file exists before a second person releases the batch:
  // nothing to download, and the page says when there will be.
  await noFileYet(maker)
  await shot(maker, '22-finance-batch-ready')
  await maker.context().close()

  const checker = await phone(browser, server.url, 'finance-futian-2')
  await checker.locator(sel(`batch-${batchId}`)).click()
  await checker.locator(sel('release')).waitFor()
  await noFileYet(checker)
  await checker.locator(sel('release')).click()
  await confirmDialog(checker)
  await until('the batch to be released', async () => (await checker.locator(sel('batch-state')).getAttribute('data-state')) === 'released')
  // Written in the background after the release; the page refreshes until it is there.
  await checker.locator(sel('file-csv')).waitFor()
  assert.equal(await checker.locator(sel('file-xlsx')).count(), 1)
  assert.equal(await checker.locator(sel('file-after-release')).count(), 0)
  assert.equal(await checker.locator(sel('file-not-ready')).count(), 0)
  await shot(checker, '23-finance-batch-released')

  const download = checker.waitForEvent('download')
  await checker.locator(sel('file-csv')).click()
  const file = await download
  const treasury = readFileSync(await file.path(), 'utf8')
  assert.match(treasury, new RegExp(`批次号,${batchId}`))
  assert.match(treasury, /4000021234567890123/, 'the treasury file carries the full account number')
  assert.match(treasury, /物业服务企业疫情防控服务财政补助/)
  const lineId = treasury
    .split(/\r?\n/)
    .map((r) => r.split(','))
    .find((cols) => cols[1] === appId)?.[0]
  assert.ok(lineId, 'the file has a line for the application')

  // A wrong total is refused whole, naming the problem.
  const wrong = `批次号,${batchId}\n笔数,1\n总金额(元),49999.99\n行号,状态,原因\n${lineId},成功,\n`
  await checker.setInputFiles(sel('results-file'), { name: '回单-错误.csv', mimeType: 'text/csv', buffer: Buffer.from(wrong) })
  await checker.locator(sel('results-problems')).waitFor()
  assert.match(await text(checker, sel('results-problems')), /49999\.99|50000\.00|total/i)
  await shot(checker, '24-finance-results-refused')
  assert.equal(await checker.locator(sel('batch-state')).getAttribute('data-state'), 'released')

  const right = `批次号,${batchId}\n笔数,1\n总金额(元),50000.00\n行号,状态,原因\n${lineId},成功,\n`
  await checker.setInputFiles(sel('results-file'), { name: '回单.csv', mimeType: 'text/csv', buffer: Buffer.from(right) })
  await until('the batch to be reconciled', async () => (await checker.locator(sel('batch-state')).getAttribute('data-state')) === 'reconciled')
  assert.match(await text(checker, `${sel('batch-paid')} .van-cell__value`), /^1 · ¥50,000\.00$/)
  await shotFull(checker, '25-finance-batch-reconciled')
  await checker.context().close()
})

test('the company sees its application paid', async () => {
  const page = await phone(browser, server.url, 'company-a')
  await page.locator('[data-project="南园花园"] .state-tag[data-state="paid"]').waitFor()
  await shot(page, '26-company-paid-list')
  await openApp(page, '南园花园')
  await page.locator(sel('paid-notice')).waitFor()
  assert.equal(await text(page, sel('approved-amount')), '¥50,000.00')
  await shotFull(page, '27-company-paid-detail')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})


