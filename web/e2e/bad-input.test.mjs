// Bad input through the screens: what the user is told, and that nothing is
// stored. A wrong credit code (caught as it is typed, and a taken one refused
// by the server), files the client refuses before sending a byte, and a
// reviewer who opens another jurisdiction's application by its URL.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, toast, until, uploadVia } from './lib.mjs'

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

const field = (name) => `${sel(name)} input`
const fieldError = (name) => `${sel(name)} .van-field__error-message`

test('a wrong credit code is named as it is typed, and nothing is stored', async () => {
  const page = await phone(browser, server.url, 'company-new')
  // A company with no profile lands on the registration form.
  await page.locator(sel('tab-company')).click()
  await page.locator(sel('company-form')).waitFor()

  await page.locator(field('creditCode')).fill('91440300MA5D0000')
  assert.match(await text(page, fieldError('creditCode')), /18 位.*16 位/)
  await page.locator(field('creditCode')).fill('91440300MA5D00001I')
  assert.match(await text(page, fieldError('creditCode')), /第 18 位.*I/)
  // One character off: the check character (GB 32100-2015) no longer agrees.
  await page.locator(field('creditCode')).fill('91440300MA5D000016')
  assert.match(await text(page, fieldError('creditCode')), /校验位.*5/)
  await page.locator(field('name')).fill('新企业物业服务有限公司')
  await page.locator(field('legalRepresentative')).fill('赵六')
  await page.locator(field('contactName')).fill('钱七')
  await page.locator(field('contactPhone')).fill('1380013800')
  assert.match(await text(page, fieldError('contactPhone')), /手机/)
  await page.locator(field('contactPhone')).fill('13800138009')
  await page.locator(field('bankName')).fill('中国建设银行深圳分行')
  await page.locator(field('accountName')).fill('新企业物业服务有限公司')
  await page.locator(field('accountNumber')).fill('44250100000000000001')
  await shot(page, '28-bad-credit-code')

  // Saving with the wrong code sends nothing.
  const sent = []
  page.on('request', (r) => r.url().includes('/api/v1/company') && r.method() !== 'GET' && sent.push(r.url()))
  await page.locator(sel('company-save')).click()
  await page.locator(fieldError('creditCode')).waitFor()
  assert.deepEqual(sent, [])
  const call = await api(server.url, 'company-new')
  assert.equal((await call('/company')).status, 404, 'no company was stored')

  // A valid code that another account registered: the server refuses it,
  // and the clerk reads why in Chinese, never raw JSON.
  await page.locator(field('creditCode')).fill('91440300MA5D000015')
  assert.equal(await page.locator(fieldError('creditCode')).count(), 0)
  await page.locator(sel('company-save')).click()
  assert.equal(await toast(page), '该统一社会信用代码已被其他账号登记')
  await shot(page, '29-credit-code-taken')
  assert.equal(sent.length, 1)
  assert.equal((await call('/company')).status, 404, 'still no company stored')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('files the rules refuse are refused before upload, and no document is created', async () => {
  const page = await phone(browser, server.url, 'company-a')
  await page.locator(sel('application-new')).click()
  await page.locator(sel('pick-南园大厦')).click()
  await page.locator(field('claimedArea')).fill('0')
  assert.match(await text(page, fieldError('claimedArea')), /大于 0/)
  await page.locator(field('claimedArea')).fill('18800.123')
  assert.match(await text(page, fieldError('claimedArea')), /两位小数/)
  await page.locator(field('claimedArea')).fill('18800')
  await page.locator(sel('create-draft')).click()
  await page.locator(sel('app-head')).waitFor()
  const appId = page.url().split('/applications/')[1]

  const uploads = []
  page.on('request', (r) => (r.url().includes('/documents') || r.url().includes('/blobs/')) && r.method() !== 'GET' && uploads.push(r.url()))

  // 11 MiB: over the 10 MiB the policy allows.
  await page.setInputFiles(sel('file-service_contract'), {
    name: '扫描件-过大.pdf',
    mimeType: 'application/pdf',
    buffer: pdf(11 * 1024 * 1024),
  })
  assert.match(await toast(page), /扫描件-过大\.pdf.*11\.0 MB.*10 MB.*未上传/)
  await shot(page, '30-file-too-large')
  await page.locator('.van-toast').last().waitFor({ state: 'hidden' })

  await page.setInputFiles(sel('file-service_contract'), { name: '合同.docx', mimeType: 'application/msword', buffer: Buffer.from('not a pdf') })
  assert.match(await toast(page), /合同\.docx/)
  await page.locator('.van-toast').last().waitFor({ state: 'hidden' })

  await page.setInputFiles(sel('file-service_contract'), { name: '空白.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(0) })
  assert.match(await toast(page), /空白\.pdf/)

  assert.deepEqual(uploads, [], 'nothing was sent')
  const call = await api(server.url, 'company-a')
  const { body } = await call(`/applications/${appId}`)
  assert.deepEqual(body.documents, [], 'no document was created')
  assert.match(await text(page, sel('missing-docs')), /物业服务合同/)

  // A file that claims to be a PDF but is not gets past the browser's
  // checks; the server looks at the bytes and refuses it.
  await page.setInputFiles(sel('file-service_contract'), { name: '伪装.pdf', mimeType: 'application/pdf', buffer: png() })
  await page.locator(`${sel('doc-伪装.pdf')} [data-status="refused"]`).waitFor()
  await shot(page, '31-file-refused-by-content')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test("a reviewer who opens another jurisdiction's application by URL is told it is not found", async () => {
  // Set up through the API: company-a's application waiting for 南园社区's 初审.
  const company = await api(server.url, 'company-a')
  const projects = (await company('/projects?limit=100')).body.items
  const project = projects.find((p) => p.name === '南园花园')
  const created = await company('/applications', { method: 'POST', body: { projectId: project.id, claimedArea: '52345.67', note: null } })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  const id = created.body.id
  await uploadVia(company, id, 'service_contract', '合同.pdf', 'application/pdf', pdf())
  await uploadVia(company, id, 'area_proof', '证明.png', 'image/png', png())
  await until('the documents to be checked', async () => {
    const { body } = await company(`/applications/${id}`)
    return body.documents.every((d) => d.status === 'verified')
  })
  let v = (await company(`/applications/${id}`)).body.version
  assert.equal((await company(`/applications/${id}/submit`, { method: 'POST', body: { version: v } })).status, 200)
  const pm = await api(server.url, 'pm-a')
  v = (await pm(`/applications/${id}`)).body.version
  assert.equal((await pm(`/applications/${id}/confirm-area`, { method: 'POST', body: { version: v } })).status, 200)

  // Its own community sees it.
  const own = await phone(browser, server.url, 'community-nanyuan')
  await own.goto(`${server.url}/#/applications/${id}`)
  await own.locator(sel('app-head')).waitFor()
  await own.context().close()

  // The neighbouring community, by URL: the same answer as for an id that
  // does not exist, so the URL does not even confirm the application exists.
  const other = await phone(browser, server.url, 'community-nanhua')
  await other.locator(sel('review-inbox') + ', ' + sel('empty')).first().waitFor()
  assert.equal(await other.locator('[data-project="南园花园"]').count(), 0)
  await other.goto(`${server.url}/#/applications/${id}`)
  await other.locator(sel('error')).waitFor()
  assert.equal(await text(other, `${sel('error')} .van-empty__description`), '未找到，或您无权查看')
  assert.equal(await other.locator(sel('app-head')).count(), 0)
  assert.equal(await other.locator(sel('review-actions')).count(), 0)
  await shot(other, '32-other-jurisdiction-not-found')
  const nanhua = await api(server.url, 'community-nanhua')
  assert.equal((await nanhua(`/applications/${id}`)).status, 404)
  assert.equal((await nanhua(`/review/community/applications/${id}/approve`, { method: 'POST', body: { version: v + 1 } })).status, 404)
  assert.equal((await company(`/applications/${id}`)).body.state, 'pending_community')

  // A company cannot open a review screen either.
  const stranger = await phone(browser, server.url, 'company-b')
  await stranger.goto(`${server.url}/#/applications/${id}`)
  assert.equal(await text(stranger, `${sel('error')} .van-empty__description`), '未找到，或您无权查看')
  await stranger.goto(`${server.url}/#/review/inbox`)
  await stranger.waitForURL((u) => !u.hash.startsWith('#/review'))
  assert.deepEqual([...other.errors, ...stranger.errors], [])
  await other.context().close()
  await stranger.context().close()
})

test('phones show masked; an edit that leaves one blank keeps it, a malformed one is named', async () => {
  const call = await api(server.url, 'company-b')
  const page = await phone(browser, server.url, 'company-b')
  await page.locator(sel('tab-company')).click()
  await page.locator(sel('company-view')).waitFor()
  assert.match(await page.locator(sel('company-view')).innerText(), /139\*\*\*\*9002/)
  assert.doesNotMatch(await page.locator(sel('company-view')).innerText(), /13900139002/)
  await page.locator(sel('company-edit')).click()
  assert.equal(await page.locator(field('contactPhone')).inputValue(), '', 'the masked number is not filled in')
  assert.match(await page.locator(field('contactPhone')).getAttribute('placeholder'), /139\*\*\*\*9002.*留空/)

  // A malformed number is named and nothing is sent.
  const sent = []
  page.on('request', (r) => r.url().includes('/api/v1/') && r.method() !== 'GET' && sent.push(r.url()))
  await page.locator(field('contactPhone')).fill('139****9002')
  assert.match(await text(page, fieldError('contactPhone')), /手机/)
  await page.locator(field('accountNumber')).fill('6222020200001234567')
  await page.locator(sel('company-save')).click()
  assert.deepEqual(sent, [])

  // Left blank: saved, and the number on file is the same.
  await page.locator(field('contactPhone')).fill('')
  await page.locator(field('contactName')).fill('陈鹏城（新）')
  await page.locator(sel('company-save')).click()
  assert.equal(await toast(page), '企业信息已保存')
  const company = (await call('/company')).body
  assert.equal(company.contactName, '陈鹏城（新）')
  assert.equal(company.contactPhone, '139****9002')

  // The project form: the same.
  const project = (await call('/projects')).body.items[0]
  await page.goto(`${server.url}/#/company/projects/${project.id}`)
  await page.locator(sel('project-form')).waitFor()
  assert.equal(await page.locator(field('managerPhone')).inputValue(), '')
  assert.match(await page.locator(field('managerPhone')).getAttribute('placeholder'), new RegExp(project.managerPhone.replace(/\*/g, '\\*')))
  await page.locator(field('managerName')).fill('陈经理（新）')
  await page.locator(sel('project-save')).click()
  assert.equal(await toast(page), '项目已保存')
  const saved = (await call(`/projects/${project.id}`)).body
  assert.deepEqual([saved.managerName, saved.managerPhone], ['陈经理（新）', project.managerPhone])
  assert.deepEqual(page.errors, [])
  await page.context().close()
})
