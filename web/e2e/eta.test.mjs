// How long the current step usually takes (ETA), through the screens. Ten
// applications in 南园社区 are submitted and their areas confirmed the same
// day (ten samples of 项目面积确认, done the day it began); the server then
// restarts three days later on its clock and the community approves all ten
// (ten samples of 社区初审, each some working days long). The company's
// next application, waiting at 初审, shows under its time limit how long
// 初审 usually takes in its community; one waiting for the project manager
// reads 当天办结. Another company's, in a community where nobody finished
// 初审, shows the city's figure, in Chinese and in English. An application
// at a step nobody finished lately shows no line, and neither a reviewer
// nor the project manager sees one.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, keepFailedScreens, launch, pdf, phone, png, sel, shot, startServer, text, until, uploadVia } from './lib.mjs'

let server
let browser
/** The ten that passed 初审, then company-a's at 初审 and at the manager's confirmation, and company-b's at 初审. */
const ids = { passed: [], atCommunity: '', atConfirmation: '', elsewhere: '' }

before(async () => {
  server = await startServer()
  browser = await launch()
})
afterEach(async (t) => keepFailedScreens(t.name))
after(async () => {
  await browser?.close()
  await server?.stop()
})

const SAMPLES = 10

/** POSTs an action with the application's current version, as `who`; returns the application after it. */
async function act(who, id, path) {
  const call = await api(server.url, who)
  const { version } = (await call(`/applications/${id}`)).body
  const r = await call(path.replace('{id}', id), { method: 'POST', body: { version } })
  assert.equal(r.status, 200, `${who} ${path}: ${JSON.stringify(r.body)}`)
  return r.body
}

/**
 * A submitted application of `who`'s: for its project `projectName`, or for
 * a new project of that name in `community` managed by the manager at `phone`.
 */
async function submitted(who, projectName, { community = '440304001020', phone = '13800138001' } = {}) {
  const company = await api(server.url, who)
  const projects = (await company('/projects')).body
  let project = (projects.items ?? projects).find((p) => p.name === projectName)
  if (!project) {
    const r = await company('/projects', {
      method: 'POST',
      body: { name: projectName, address: '南园路 1 号', community, managedArea: '1500.00', managerName: '王项目经理', managerPhone: phone },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    project = r.body
  }
  const draft = await company('/applications', { method: 'POST', body: { projectId: project.id, claimedArea: '1500.00' } })
  assert.equal(draft.status, 201, JSON.stringify(draft.body))
  const id = draft.body.id
  await uploadVia(company, id, 'service_contract', '物业服务合同.pdf', 'application/pdf', pdf())
  await uploadVia(company, id, 'area_proof', '面积证明.png', 'image/png', png())
  await until('the documents to be checked', async () => (await company(`/applications/${id}`)).body.documents.every((d) => d.status === 'verified'))
  const after = await act(who, id, '/applications/{id}/submit')
  assert.equal(after.state, 'awaiting_area_confirmation')
  return id
}

/** The ETA the server gives `who` for `id`, once it is as `expected` says (the samples are recorded after the change). */
async function etaOnceItIs(who, id, expected) {
  const call = await api(server.url, who)
  return until(`the ETA of ${id} to be ${JSON.stringify(expected)}`, async () => {
    const { eta } = (await call(`/applications/${id}`)).body
    return eta && Object.entries(expected).every(([k, v]) => eta[k] === v) ? eta : null
  })
}

/** The line the company should read, in Chinese. */
const zhLine = ({ workingDays, scope }, step) =>
  `${scope === 'city' ? '全市' : ''}${step}通常${workingDays === 0 ? '当天办结' : `需要 ${workingDays} 个工作日`}`

async function openDetail(page, id) {
  await page.goto(`${server.url}/#/applications/${id}`)
  await page.locator(sel('app-head')).waitFor()
  await page.locator(sel('due-at')).waitFor()
}

test('ten 初审 finished in the community: the company’s application at 初审 shows how long it usually takes there', async () => {
  // Ten confirmed today, approved at the community three days later.
  for (let i = 0; i < SAMPLES; i++) {
    const id = await submitted('company-a', `时长样本${i + 1}号楼`)
    assert.equal((await act('pm-a', id, '/applications/{id}/confirm-area')).state, 'pending_community')
    ids.passed.push(id)
  }
  await server.restart('--clock-offset-days', '3')
  for (const id of ids.passed) {
    assert.equal((await act('community-nanyuan', id, '/review/community/applications/{id}/approve')).state, 'pending_subdistrict')
  }

  // The company's next application, through the manager's confirmation to 初审.
  ids.atCommunity = await submitted('company-a', '南园花园')
  await act('pm-a', ids.atCommunity, '/applications/{id}/confirm-area')
  const eta = await etaOnceItIs('company-a', ids.atCommunity, { step: 'community', scope: 'unit', samples: SAMPLES })
  assert.ok(eta.workingDays >= 1, `approved on a later day than confirmed: at least a working day (${JSON.stringify(eta)})`)

  const page = await phone(browser, server.url, 'company-a')
  await openDetail(page, ids.atCommunity)
  const line = page.locator(sel('eta'))
  await line.waitFor()
  const shown = (await line.innerText()).trim()
  assert.match(shown, /^社区初审通常(需要 \d+ 个工作日|当天办结)$/)
  assert.equal(shown, zhLine(eta, '社区初审'))
  assert.equal(await line.getAttribute('data-scope'), 'unit')
  // Under the time limit, in the head of the detail.
  const [due, below] = await Promise.all([page.locator(sel('due-at')).boundingBox(), line.boundingBox()])
  assert.ok(below.y >= due.y + due.height - 1, 'the line is under 办理时限')
  assert.equal(await page.locator(`${sel('app-head')} ${sel('eta')}`).count(), 1)
  await shot(page, '46-company-eta')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('a step finished the day it began reads 当天办结; a step nobody finished lately shows no line', async () => {
  // Waiting for the project manager, whose eleven confirmations were all same-day.
  ids.atConfirmation = await submitted('company-a', '南园大厦')
  // (Each confirmed seconds after it was submitted: 0 working days, unless a
  // run straddles midnight, China time.)
  const eta = await etaOnceItIs('company-a', ids.atConfirmation, { step: 'area_confirmation', scope: 'unit' })

  const page = await phone(browser, server.url, 'company-a')
  await openDetail(page, ids.atConfirmation)
  await page.locator(sel('eta')).waitFor()
  assert.equal(await text(page, sel('eta')), zhLine(eta, '项目面积确认'))
  if (eta.workingDays === 0) assert.equal(await text(page, sel('eta')), '项目面积确认通常当天办结')

  // At 街道复核, which nobody has finished: the time limit, and no line.
  const call = await api(server.url, 'company-a')
  const atSubdistrict = (await call(`/applications/${ids.passed[0]}`)).body
  assert.equal(atSubdistrict.state, 'pending_subdistrict')
  assert.equal(atSubdistrict.eta, undefined)
  await openDetail(page, ids.passed[0])
  assert.match(await text(page, sel('due-at')), /^办理时限 /)
  assert.equal(await page.locator(sel('eta')).count(), 0)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('in a community where nobody finished 初审, the line gives the city’s figure, in Chinese and in English', async () => {
  ids.elsewhere = await submitted('company-b', '葵涌雅苑')
  await act('pm-b', ids.elsewhere, '/applications/{id}/confirm-area')
  const eta = await etaOnceItIs('company-b', ids.elsewhere, { step: 'community', scope: 'city' })
  assert.equal(eta.samples, SAMPLES, JSON.stringify(eta))

  const page = await phone(browser, server.url, 'company-b')
  await openDetail(page, ids.elsewhere)
  await page.locator(sel('eta')).waitFor()
  const shown = await text(page, sel('eta'))
  assert.match(shown, /^全市社区初审通常(需要 \d+ 个工作日|当天办结)$/)
  assert.equal(shown, zhLine(eta, '社区初审'))
  assert.equal(await page.locator(sel('eta')).getAttribute('data-scope'), 'city')

  await page.goto(`${server.url}/#/me`)
  await page.locator(sel('lang-en')).click()
  await openDetail(page, ids.elsewhere)
  const days = eta.workingDays
  await until('the line in English', async () => (await text(page, sel('eta'))).startsWith('Across the city'))
  assert.equal(
    await text(page, sel('eta')),
    `Across the city, community first review (初审) ${days === 0 ? 'is usually done the same day' : `usually takes ${days} working day${days === 1 ? '' : 's'}`}`,
  )
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the community reviewer and the project manager see no such line', async () => {
  const reviewer = await phone(browser, server.url, 'community-nanyuan')
  await openDetail(reviewer, ids.atCommunity)
  await reviewer.locator(sel('review-actions')).waitFor()
  assert.equal(await reviewer.locator(sel('eta')).count(), 0)
  assert.doesNotMatch(await text(reviewer, sel('app-head')), /通常/)
  assert.equal((await (await api(server.url, 'community-nanyuan'))(`/applications/${ids.atCommunity}`)).body.eta, undefined)
  assert.deepEqual(reviewer.errors, [])
  await reviewer.context().close()

  const pm = await phone(browser, server.url, 'pm-a')
  await openDetail(pm, ids.atConfirmation)
  await pm.locator(sel('manager-actions')).waitFor()
  assert.equal(await pm.locator(sel('eta')).count(), 0)
  assert.equal((await (await api(server.url, 'pm-a'))(`/applications/${ids.atConfirmation}`)).body.eta, undefined)
  assert.deepEqual(pm.errors, [])
  await pm.context().close()
})
