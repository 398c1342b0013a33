// 追回 (recovering an overpayment found after payment), through the screens.
// A paid application is set up through the API: company-a applies for a
// new project in 南园社区, pm-a confirms, the three tiers approve,
// finance-futian batches, finance-futian-2 releases and the bank's results
// file marks the line 成功. Then district-futian opens a recovery of 300.00
// on the application's page (the page first refuses more than was paid,
// sending nothing); the page shows 追回待确认, and the district reviewer
// cannot confirm it (the finance route answers 404). finance-futian
// reaches the application from the batch's lines, confirms, records 100.00
// then 200.00 (250.00 in between is refused by the server, shown, and
// changes nothing); the page shows 已追回 with two repayments. company-a
// sees 已追回 on its application; the district dashboard's 已拨付 / 已追回 /
// 净拨付 cards and finance's budget show what the API says.
//
// 追回依据: district-futian attaches a PDF in the recovery panel (the company
// may not: 404); company-a sees it listed there, to open, and cannot
// delete it; the company's own documents list does not repeat it.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, confirmDialog, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, until, uploadVia } from './lib.mjs'

let server
let browser
/** The paid application, its approved (paid) amount in yuan, its batch and its line. */
let appId
let paidYuan
let batchId
let lineId

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
const PROJECT = '追回苑'

/** "1005.30" → 100530n, exactly. */
const fen = (yuan) => {
  const [i, f = ''] = yuan.split('.')
  return BigInt(i) * 100n + BigInt((f + '00').slice(0, 2))
}
const yuan = (f) => `${f / 100n}.${String(f % 100n).padStart(2, '0')}`
/** As the page shows an amount: "¥1,005.30". */
const money = (y) => {
  const [i, f] = y.split('.')
  return `¥${i.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${f}`
}
/** As the dashboard shows an amount in Chinese (formatCompact): "1,005.30", "5.00万". */
function compactZh(fenValue) {
  const v = BigInt(fenValue)
  const group = (d) => {
    const [i, f] = d.split('.')
    return `${i.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${f}`
  }
  for (const [size, name] of [
    [100_000_000n, '亿'],
    [10_000n, '万'],
  ]) {
    if (v >= size * 100n) return `${group(yuan((v * 100n + (size * 100n) / 2n) / (size * 100n)))}${name}`
  }
  return group(yuan(v))
}

/** POSTs an action with the application's current version; returns the body after it. */
async function act(call, id, path, extra = {}) {
  const { version } = (await call(`/applications/${id}`)).body
  const r = await call(path.replace('{id}', id), { method: 'POST', body: { version, ...extra } })
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`)
  return r.body
}

/** POSTs a file body as `username` (the bank's results are text/csv, not JSON). */
async function postText(username, path, contentType, body) {
  const login = await fetch(`${server.url}/api/v1/auth/dev-login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username }),
  })
  const { token } = await login.json()
  const r = await fetch(`${server.url}/api/v1${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType, 'Idempotency-Key': crypto.randomUUID() },
    body,
  })
  const t = await r.text()
  return { status: r.status, body: t ? JSON.parse(t) : null }
}

/** The application as company-a (whose it is) sees it through the API. */
async function asCompany() {
  const r = await (await api(server.url, 'company-a'))(`/applications/${appId}`)
  assert.equal(r.status, 200, JSON.stringify(r.body))
  return r.body
}

async function openDetail(page) {
  await page.goto(`${server.url}/#/applications/${appId}`)
  await page.locator(sel('app-head')).waitFor()
}

const status = (page) => text(page, sel('recovery-status'))

/** Scrolls `selector` to just below the page bar, once no toast covers the screen, for a manual screenshot. */
async function showFromTop(page, selector) {
  await until('the toasts to go', async () => (await page.locator('.van-toast:visible').count()) === 0)
  await page.locator(selector).evaluate((el) => {
    el.scrollIntoView({ block: 'start' })
    window.scrollBy(0, -90)
  })
}

test('setup: an application is paid (through the API)', async () => {
  const company = await api(server.url, 'company-a')
  const pm = await api(server.url, 'pm-a')
  const project = await company('/projects', {
    method: 'POST',
    body: { name: PROJECT, address: '南园路 88 号', community: COMMUNITY, managedArea: '1005.30', managerName: '王项目经理', managerPhone: '13800138001' },
  })
  assert.equal(project.status, 201, JSON.stringify(project.body))
  const draft = await company('/applications', { method: 'POST', body: { projectId: project.body.id } })
  assert.equal(draft.status, 201, JSON.stringify(draft.body))
  appId = draft.body.id
  await uploadVia(company, appId, 'service_contract', '物业服务合同.pdf', 'application/pdf', pdf())
  await uploadVia(company, appId, 'area_proof', '面积证明.png', 'image/png', png())
  await until('the documents to be checked', async () => (await company(`/applications/${appId}`)).body.documents.every((d) => d.status === 'verified'))
  await act(company, appId, '/applications/{id}/submit')
  await act(pm, appId, '/applications/{id}/confirm-area')
  for (const [who, tier] of [
    ['community-nanyuan', 'community'],
    ['subdistrict-nanyuan', 'subdistrict'],
    ['district-futian', 'district'],
  ]) {
    const call = await api(server.url, who)
    // Each tier acts once the application has reached it.
    await until(`${tier} to have it`, async () => (await company(`/applications/${appId}`)).body.pendingTier === tier)
    await act(call, appId, `/review/${tier}/applications/{id}/approve`)
  }
  const approved = await asCompany()
  assert.equal(approved.state, 'approved')
  paidYuan = approved.approvedAmount
  assert.equal(paidYuan, '1005.30')

  const maker = await api(server.url, 'finance-futian')
  await until('the application to be payable', async () => (await maker('/disbursement/eligible')).body.count === 1)
  const batch = await maker('/batches', { method: 'POST', body: { note: '追回测试批次' } })
  assert.ok(batch.status === 200 || batch.status === 201, JSON.stringify(batch.body))
  batchId = batch.body.id
  await until('the batch to be built', async () => (await maker(`/batches/${batchId}`)).body.state === 'ready')
  const { version } = (await maker(`/batches/${batchId}`)).body
  const released = await (await api(server.url, 'finance-futian-2'))(`/batches/${batchId}/release`, { method: 'POST', body: { version } })
  assert.equal(released.status, 200, JSON.stringify(released.body))
  const lines = (await maker(`/batches/${batchId}/lines?limit=100`)).body.items
  assert.equal(lines.length, 1)
  lineId = lines[0].id
  assert.equal(lines[0].applicationId, appId)
  const results = `\ufeff批次号,${batchId}\n笔数,1\n总金额(元),${paidYuan}\n行号,状态,原因\n${lineId},成功,\n`
  const imported = await postText('finance-futian', `/batches/${batchId}/results`, 'text/csv', results)
  assert.ok(imported.status === 200 || imported.status === 202, JSON.stringify(imported.body))
  await until('the application to be paid', async () => (await asCompany()).state === 'paid')
  assert.equal((await asCompany()).recovery, undefined, 'no recovery yet')
})

test('the district opens a recovery of 300.00; more than was paid is refused on the page', async () => {
  const page = await phone(browser, server.url, 'district-futian')
  await openDetail(page)
  await page.locator(sel('paid-notice')).waitFor()
  assert.equal(await page.locator(sel('recovery')).count(), 0)
  await page.locator(sel('open-recovery')).click()
  const before = await asCompany()

  // One fen above what was paid: said beside the field, nothing sent.
  const above = yuan(fen(paidYuan) + 1n)
  await page.locator(`${sel('recovery-amount')} input`).fill(above)
  await page.locator(`${sel('recovery-reason')} textarea`).fill('重复申报')
  await page.locator(sel('recovery-submit')).click()
  assert.equal(await text(page, `${sel('recovery-amount')} .van-field__error-message`), `不能超过 ${money(paidYuan)}`)
  assert.equal(await page.locator('.van-dialog:visible').count(), 0, 'no confirmation asked')
  // Not a number, and no reason: also said, nothing sent.
  await page.locator(`${sel('recovery-amount')} input`).fill('0')
  assert.equal(await text(page, `${sel('recovery-amount')} .van-field__error-message`), '金额必须大于 0')
  await page.locator(`${sel('recovery-reason')} textarea`).fill('')
  await page.locator(`${sel('recovery-amount')} input`).fill('300.00')
  await page.locator(sel('recovery-submit')).click()
  assert.equal(await text(page, `${sel('recovery-reason')} .van-field__error-message`), '请填写追回原因')
  const unchanged = await asCompany()
  assert.equal(unchanged.version, before.version, 'nothing was sent')
  assert.equal(unchanged.recovery, undefined)

  await page.locator(`${sel('recovery-reason')} textarea`).fill('重复申报，核减面积')
  await page.locator(sel('recovery-form')).scrollIntoViewIfNeeded()
  await shot(page, '50-recovery-open')
  await page.locator(sel('recovery-submit')).click()
  assert.equal(await text(page, '.van-dialog__message'), '确定对本申请发起追回 ¥300.00？')
  await confirmDialog(page)
  await until('the page to show the recovery', async () => (await status(page)) === '追回待确认')

  const seen = await asCompany()
  assert.equal(seen.recovery.status, 'awaiting_confirmation')
  assert.deepEqual([seen.recovery.amount, seen.recovery.repaid, seen.recovery.owed], ['300.00', '0.00', '300.00'])
  assert.equal(seen.recovery.reason, '重复申报，核减面积')
  assert.equal(await text(page, sel('recovery-figure-amount')), money(seen.recovery.amount))
  assert.equal(await text(page, sel('recovery-owed')), money(seen.recovery.owed))
  assert.equal(await text(page, sel('recovery-repaid')), money(seen.recovery.repaid))
  assert.match(await text(page, sel('recovery-reason-text')), /重复申报，核减面积/)
  // Opened once: no second 发起追回, and no confirming for the district.
  assert.equal(await page.locator(sel('open-recovery')).count(), 0)
  assert.equal(await page.locator(sel('confirm-recovery')).count(), 0)
  assert.match(await text(page, '.timeline'), /区级发起追回/)

  // The district reviewer cannot confirm what it opened: the finance route is not theirs.
  const district = await api(server.url, 'district-futian')
  const r = await district(`/disbursement/applications/${appId}/confirm-recovery`, { method: 'POST', body: { version: seen.version } })
  assert.deepEqual([r.status, r.body?.error?.code], [404, 'not_found'], JSON.stringify(r.body))
  // Nor open a second one.
  const again = await district(`/review/district/applications/${appId}/open-recovery`, { method: 'POST', body: { version: seen.version, amount: '1.00', reason: '再开' } })
  assert.deepEqual([again.status, again.body?.error?.code], [409, 'wrong_state'])
  assert.equal((await asCompany()).version, seen.version, 'nothing changed')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the district attaches 追回依据 in the recovery panel; the company sees it', async () => {
  // Not the company's to attach.
  const company = await api(server.url, 'company-a')
  const refused = await company(`/applications/${appId}/documents`, {
    method: 'POST',
    body: { kind: 'recovery_evidence', fileName: '企业.pdf', contentType: 'application/pdf', size: 100 },
  })
  assert.deepEqual([refused.status, refused.body?.error?.code], [404, 'not_found'], JSON.stringify(refused.body))

  const page = await phone(browser, server.url, 'district-futian')
  await openDetail(page)
  const panel = page.locator(sel('recovery-evidence'))
  await panel.waitFor()
  assert.match(await text(page, sel('recovery-evidence-hint')), /最多 10 份，已上传 0 份/)
  assert.equal(await text(panel, sel('doc-none')), '尚未上传材料')
  await page.setInputFiles(sel('file-recovery_evidence'), { name: '核查记录.pdf', mimeType: 'application/pdf', buffer: pdf(3000) })
  const row = panel.locator(sel('doc-核查记录.pdf'))
  await row.waitFor()
  await until('the evidence to be checked', async () => (await row.locator('[data-status]').getAttribute('data-status')) === 'verified')
  assert.match(await text(page, sel('recovery-evidence-hint')), /已上传 1 份/)
  assert.equal(await row.locator(sel('doc-delete')).count(), 0, 'nobody deletes it')
  // Listed with the recovery, not again among the company's documents.
  assert.equal(await page.locator(`${sel('documents')} [data-kind="recovery_evidence"]`).count(), 0)
  const docs = (await asCompany()).documents.filter((d) => d.kind === 'recovery_evidence')
  assert.deepEqual(docs.map((d) => [d.fileName, d.status]), [['核查记录.pdf', 'verified']])
  await until('the timeline to record it', async () => /追回依据 核查记录\.pdf/.test(await text(page, sel('timeline'))))
  await showFromTop(page, sel('recovery'))
  await shot(page, '60-recovery-evidence')
  assert.deepEqual(page.errors, [])
  await page.context().close()

  const owner = await phone(browser, server.url, 'company-a')
  await openDetail(owner)
  const seen = owner.locator(`${sel('recovery-evidence')} ${sel('doc-核查记录.pdf')}`)
  await seen.waitFor()
  assert.equal(await owner.locator(sel('recovery-evidence-hint')).count(), 0)
  assert.equal(await owner.locator(sel('file-recovery_evidence')).count(), 0, 'the company attaches none')
  assert.equal(await seen.locator(sel('doc-delete')).count(), 0)
  await seen.locator(sel('doc-view')).click()
  await owner.locator(`${sel('doc-viewer')} iframe`).waitFor()
  assert.deepEqual(owner.errors, [])
  await owner.context().close()
})

test('finance reaches it from the batch, confirms, and records 100.00 then 200.00; more than owed is refused by the server', async () => {
  const page = await phone(browser, server.url, 'finance-futian')
  await page.locator(sel(`batch-${batchId}`)).click()
  await page.locator(sel(`line-${lineId}`)).click()
  await page.waitForURL(new RegExp(`/applications/${appId}$`))
  await page.locator(sel('recovery')).waitFor()
  assert.equal(await status(page), '追回待确认')
  assert.equal(await page.locator(sel('repayment-form')).count(), 0, 'no repayments before the confirmation')
  await showFromTop(page, sel('recovery'))
  await shot(page, '51-recovery-confirm')
  await page.locator(sel('confirm-recovery')).click()
  await confirmDialog(page)
  await until('the recovery to be confirmed', async () => (await status(page)) === '追回中')
  assert.equal(await page.locator(sel('confirm-recovery')).count(), 0)
  const confirmed = await asCompany()
  assert.equal(confirmed.recovery.status, 'recovering')
  assert.ok(confirmed.recovery.confirmedAt)

  async function repay(date, amount, reference) {
    await page.locator(`${sel('repayment-date')} input`).fill(date)
    await page.locator(`${sel('repayment-amount')} input`).fill(amount)
    await page.locator(`${sel('repayment-reference')} input`).fill(reference)
    await page.locator(sel('repayment-submit')).click()
  }

  await repay('2020-06-01', '100.00', 'HK001')
  await page.locator(sel('repayment-0')).waitFor()
  await until('the owed amount to follow', async () => (await text(page, sel('recovery-owed'))) === '¥200.00')
  const first = await asCompany()
  assert.deepEqual([first.recovery.repaid, first.recovery.owed, first.recovery.repayments.length], ['100.00', '200.00', 1])
  assert.equal(await text(page, sel('recovery-repaid')), money(first.recovery.repaid))
  assert.equal(await status(page), '追回中')
  assert.match(await text(page, sel('repayment-0')), /¥100\.00/)
  assert.match(await text(page, sel('repayment-0')), /2020-06-01.*HK001/)

  // More than is owed: the page sends it, the server refuses it, the page says so.
  await repay('2020-06-02', '250.00', 'HK002')
  await until('the server’s refusal', async () => (await page.locator('.van-toast:visible', { hasText: '金额有误' }).count()) > 0)
  await until('the refusal beside the amount', async () =>
    (await text(page, `${sel('repayment-amount')} .van-field__error-message`)) === '退款金额须大于 0，且不能超过尚欠 ¥200.00',
  )
  await showFromTop(page, sel('repayment-form'))
  await shot(page, '52-recovery-repayment-refused')
  const still = await asCompany()
  assert.equal(still.version, first.version, 'nothing changed')
  assert.deepEqual([still.recovery.repaid, still.recovery.owed, still.recovery.repayments.length], ['100.00', '200.00', 1])
  assert.equal(await page.locator(sel('repayment-1')).count(), 0)
  // A date after today is said on the page, not sent.
  await page.locator(`${sel('repayment-date')} input`).fill('2999-01-01')
  assert.equal(await text(page, `${sel('repayment-date')} .van-field__error-message`), '不能晚于今天')
  assert.equal((await asCompany()).version, first.version)

  await repay('2020-06-02', '200.00', 'HK002')
  await until('the recovery to be complete', async () => (await status(page)) === '已追回')
  const done = await asCompany()
  assert.equal(done.recovery.status, 'recovered')
  assert.deepEqual([done.recovery.repaid, done.recovery.owed], ['300.00', '0.00'])
  assert.deepEqual(
    done.recovery.repayments.map((p) => [p.date, p.amount, p.bankReference]),
    [
      ['2020-06-01', '100.00', 'HK001'],
      ['2020-06-02', '200.00', 'HK002'],
    ],
  )
  assert.equal(await page.locator(`${sel('repayments')} [data-test^="repayment-"][data-amount]`).count(), 2)
  assert.equal(await page.locator(sel('repayment-1')).getAttribute('data-amount'), '200.00')
  assert.equal(await text(page, sel('recovery-owed')), '¥0.00')
  assert.equal(await text(page, sel('recovery-repaid')), money(done.recovery.repaid))
  assert.equal(await page.locator(sel('repayment-form')).count(), 0, 'nothing more to record')
  await showFromTop(page, sel('recovery'))
  await shot(page, '53-recovery-done')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the company sees 已追回 on its application', async () => {
  const page = await phone(browser, server.url, 'company-a')
  await page.locator(`[data-project="${PROJECT}"]`).first().click()
  await page.locator(sel('app-head')).waitFor()
  await page.locator(sel('recovery')).waitFor()
  assert.equal(await status(page), '已追回')
  assert.equal(await page.locator(`${sel('repayments')} [data-amount]`).count(), 2)
  assert.equal(await page.locator(`${sel('open-recovery')}, ${sel('confirm-recovery')}, ${sel('repayment-form')}`).count(), 0)
  assert.equal(await page.locator(sel('recovery-company-hint')).count(), 0, 'nothing left to repay')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the dashboard and the budget count what was paid, recovered and the net', async () => {
  const district = await api(server.url, 'district-futian')
  const code = '440304'
  const page = await phone(browser, server.url, 'district-futian')
  await page.locator(sel('tab-dashboard')).click()
  await page.waitForURL(/#\/dashboard/)
  let totals
  await until('the recovery to reach the totals', async () => {
    totals = (await district(`/stats/${code}`)).body.totals
    return totals.recoveredAmountFen === 30000
  })
  assert.equal(totals.paidAmountFen, Number(fen(paidYuan)))
  assert.equal(totals.netPaidAmountFen, totals.paidAmountFen - totals.recoveredAmountFen)
  assert.deepEqual([totals.recovered, totals.recovering], [1, 0])
  await until('the dashboard to show it', async () => {
    await page.reload()
    await page.locator(sel('stat-recovered-amount')).waitFor()
    return (await text(page, sel('stat-recovered-amount'))) === compactZh(totals.recoveredAmountFen)
  })
  assert.equal(await text(page, sel('stat-recovered-amount')), '300.00')
  assert.equal(await text(page, sel('stat-paid-amount')), compactZh(totals.paidAmountFen))
  assert.equal(await text(page, sel('stat-net-paid-amount')), compactZh(totals.netPaidAmountFen))
  assert.equal(await text(page, sel('stat-net-paid-amount')), '705.30')
  assert.equal(await text(page, sel('stat-recovering')), '追回中 0 件 · 已追回 1 件')
  await page.locator(sel('stat-paid-amount')).scrollIntoViewIfNeeded()
  await shot(page, '54-dashboard-recovered')
  await page.context().close()

  // Finance's budget: paid is net of what came back.
  const finance = await api(server.url, 'finance-futian')
  const budget = (await finance('/disbursement/eligible')).body.budget
  assert.equal(budget.paid.yuan, '705.30')
  const home = await phone(browser, server.url, 'finance-futian')
  await home.locator(sel('budget-paid')).waitFor()
  assert.equal(await text(home, sel('budget-paid')), money(budget.paid.yuan))
  assert.equal(await text(home, sel('budget-remaining')), money(budget.remaining.yuan))
  assert.deepEqual(home.errors, [])
  await home.context().close()
})
