// Signing in through an OpenID provider, against a standalone server
// started with --oidc-issuer (no --demo): the client in `auth.mode: "oidc"`
// goes to the provider (authorization code with PKCE, via oidc-client-ts),
// comes back with its tokens and sends the access token to the API. The
// provider is a mock (oidc-provider.mjs) that signs in whoever the test
// chooses. Tokens only identify: staff get their role and unit from the
// directory kept with `subsidy staff add`, anyone else is a company, and a
// user whose token carries a verified phone may act as a project manager
// from 我的; without one the server answers 403 phone_not_verified and the
// user acts as a company. A member disabled with `subsidy staff disable` is
// turned away on their next request. Signing out, or being turned away,
// ends the session at the provider too. The demo login does not exist in
// this mode.

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { apiWith, keepFailedScreens, launch, pdf, phone, sel, shot, startOidcServer, text, toast, until, uploadVia } from './lib.mjs'
import { claimsOf, startProvider } from './oidc-provider.mjs'

const CLIENT = 'subsidy-web'
/** The project manager's phone: the one the company gives for its project, and the one the provider verified. */
const PM_PHONE = '13800138021'

let idp
let server
let browser

/** The built-in policy with its window open now, so that an application can be submitted. */
function openPolicy() {
  const day = 86_400_000
  const at = (d) => new Date(Date.now() + d * day).toISOString()
  return {
    id: 'e2e-oidc',
    name: '物业服务企业疫情防控服务财政补助（测试）',
    rateFenPerM2Month: 50,
    months: 2,
    opensAt: at(-1),
    closesAt: at(30),
    payoutDeadline: at(60),
    maxProjectArea: '5000000.00',
    requiredDocuments: ['service_contract', 'area_proof'],
    maxDocumentBytes: 10485760,
    districtBudgets: { '440304': '30000000.00' },
  }
}

before(async () => {
  idp = await startProvider({ clientId: CLIENT })
  server = await startOidcServer({ issuer: idp.url, clientId: CLIENT, policy: openPolicy() })
  browser = await launch()
})
afterEach(async (t) => keepFailedScreens(t.name))
after(async () => {
  await browser?.close()
  await server?.stop()
  await idp?.stop()
})

/** `subsidy staff …` on the running server's data directory; fails the test if the command does. */
async function staff(...args) {
  const out = await server.cli('staff', ...args)
  assert.equal(out.code, 0, `staff ${args.join(' ')}: ${out.stderr}`)
  return out.stdout
}

/** A fresh phone on the login page, not signed in. */
async function loginPage() {
  const page = await phone(browser, server.url)
  await page.locator(sel('oidc-login')).waitFor()
  return page
}

/** Signs `user` in through the provider from the login page; resolves once the client has left it. */
async function signInThrough(page, user) {
  idp.signInAs(user)
  await page.locator(sel('oidc-login')).click()
  // Back from the provider (?code=…&state=…), then at the role's home (not '#/', which redirects there).
  await page.waitForURL((u) => u.origin === server.url && u.search === '' && u.hash.length > 2 && !u.hash.startsWith('#/login'))
}

/** A fresh phone signed in as `user` through the provider. */
async function signedIn(user) {
  const page = await loginPage()
  await signInThrough(page, user)
  return page
}

const tabs = async (page) => (await page.locator('.van-tabbar-item__text').allInnerTexts()).map((s) => s.trim())

/** The keys oidc-client-ts stores its signed-in user under, in the page's sessionStorage. */
const oidcUsers = (page) => page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('oidc.user:')))

/**
 * Resolves when the page is back from the provider's end-session endpoint:
 * the provider sends it to the client's bare URL (its
 * post_logout_redirect_uri), which nothing else loads. Call it before the
 * action that signs out.
 */
function backFromSignOut(page) {
  return page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() && f.url() === `${server.url}/` })
}

/** The provider's log entries for `endpoint` (authorize, token, end_session). */
const asked = (endpoint) => idp.log.filter((e) => e.endpoint === endpoint)

/** 我的 → 退出登录, confirmed. */
async function signOut(page) {
  await page.locator(sel('tab-me')).click()
  await page.locator(sel('logout')).click()
  await page.locator('.van-dialog__confirm').click()
}

test('the login page offers the identity platform, never demo accounts, and the server has no dev login', async () => {
  const asked = []
  const login = await loginPage()
  login.on('request', (r) => asked.push(new URL(r.url()).pathname))
  assert.equal(await text(login, sel('oidc-login')), '统一身份认证登录')
  assert.equal(await text(login, '.hero p'), '使用政务统一身份认证平台账号登录')
  assert.equal(await login.locator('[data-test^="account-"]').count(), 0, 'no demo account is offered')
  assert.equal(await login.locator('[data-test^="group-"]').count(), 0)
  // (Listening from here: the page is loaded again.)
  await login.reload()
  await login.locator(sel('oidc-login')).waitFor()
  assert.ok(asked.includes('/config.json'), 'the listener saw the page load')
  assert.ok(!asked.some((p) => p.startsWith('/api/v1/auth/')), `the page never asks for demo accounts: ${asked.join(' ')}`)
  await shot(login, '38-oidc-login')
  assert.deepEqual(login.errors, [])
  await login.context().close()

  // The routes do not exist without --demo.
  const devLogin = await fetch(`${server.url}/api/v1/auth/dev-login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'finance-futian' }),
  })
  assert.equal(devLogin.status, 404)
  assert.equal((await fetch(`${server.url}/api/v1/auth/dev-accounts`)).status, 404)

  // Only the provider's tokens, for this audience, signed with its published key.
  const user = { sub: 'oidc-nobody', name: '无名' }
  assert.equal((await apiWith(server.url, idp.mint(user))('/me')).status, 200)
  assert.equal((await apiWith(server.url, idp.mint(user, { aud: 'another-client' }))('/me')).status, 401)
  assert.equal((await apiWith(server.url, idp.mint(user, { iss: 'https://elsewhere.example' }))('/me')).status, 401)
  assert.equal((await apiWith(server.url, idp.mint(user, {}, idp.foreignKey()))('/me')).status, 401)
})

test('a staff member in the directory signs in through the provider and acts with the directory’s role and unit', async () => {
  await staff('add', '--sub', 'oidc-district-li', '--name', '李审核', '--role', 'district', '--unit', '440304')
  const page = await loginPage()
  const bearer = []
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/v1/me') bearer.push(r.headers().authorization)
  })
  // The provider's token says who, not what: no role, no unit.
  await signInThrough(page, { sub: 'oidc-district-li', name: 'Li (provider name)' })
  assert.match(page.url(), /#\/review\/inbox$/)
  await until('the 审核 inbox', async () => (await text(page, '.van-nav-bar__title')) === '审核待办')
  assert.deepEqual(await tabs(page), ['待办', '统计', '通知', '我的'])

  // The code came back and was exchanged with the PKCE verifier.
  const authorize = idp.log.findLast((e) => e.endpoint === 'authorize')
  const exchange = idp.log.findLast((e) => e.endpoint === 'token')
  assert.deepEqual(
    [authorize.sub, authorize.clientId, authorize.codeChallengeMethod, authorize.redirectUri],
    ['oidc-district-li', CLIENT, 'S256', `${server.url}/`],
  )
  assert.deepEqual([exchange.sub, exchange.pkce, exchange.error], ['oidc-district-li', 'verified', null])
  // The API got the provider's access token, which claims no role.
  const token = await page.evaluate(() => sessionStorage.getItem('subsidy.token'))
  assert.equal(token, exchange.accessToken)
  assert.ok(bearer.length > 0 && bearer.every((h) => h === `Bearer ${token}`), 'every /me carried it')
  const claims = claimsOf(token)
  assert.deepEqual([claims.iss, claims.aud, claims.sub, claims.role, claims.jurisdiction], [idp.url, CLIENT, 'oidc-district-li', undefined, undefined])

  await page.locator(sel('tab-me')).click()
  await page.locator(sel('me-assignments')).waitFor()
  assert.equal(await text(page, `${sel('me-name')} .van-cell__title`), '李审核\n区（审核）')
  assert.equal(await text(page, `${sel('me-unit')} .van-cell__value`), '福田区')
  assert.equal(await page.locator(sel('assignment-district-440304')).getAttribute('data-current'), 'true')
  assert.equal(await page.locator(sel('me-persona')).count(), 0, 'staff do not pick company or manager')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('a subject the directory does not know is a company, and registers its profile', async () => {
  const page = await signedIn({ sub: 'oidc-company-new', name: '新物业' })
  assert.match(page.url(), /#\/company\/applications$/)
  assert.deepEqual(await tabs(page), ['申请', '项目', '企业', '通知', '我的'])
  await page.locator(sel('tab-company')).click()
  await page.locator(sel('company-form')).waitFor()
  await page.locator(sel('tab-me')).click()
  await page.locator(sel('me-persona')).waitFor()
  assert.equal(await text(page, `${sel('me-name')} .van-cell__title`), '新物业\n物业服务企业')
  assert.equal(await page.locator(sel('persona-company')).getAttribute('data-current'), 'true')
  assert.equal(await page.locator(sel('persona-project_manager')).getAttribute('data-current'), 'false')
  assert.equal(await page.locator(sel('me-assignments')).count(), 0)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('with a verified phone a user switches to 项目经理 on 我的 and confirms from the manager inbox; unverified, they are refused and stay a company', async () => {
  // A company (signed in with the provider too) files an application for a
  // project whose manager has PM_PHONE.
  const company = apiWith(server.url, idp.mint({ sub: 'oidc-company-nanyuan', name: '南园物业' }))
  let r = await company('/company', {
    method: 'PUT',
    body: {
      creditCode: '91440300MA5D000015',
      name: '南园物业服务有限公司',
      legalRepresentative: '张三',
      contactName: '李四',
      contactPhone: '13800138009',
      bankAccount: { bankName: '中国建设银行深圳分行', accountName: '南园物业服务有限公司', accountNumber: '44250100000000000009' },
    },
  })
  assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body))
  r = await company('/projects', {
    method: 'POST',
    body: { name: '南园新村', address: '福田区南园路 100 号', community: '440304001020', managedArea: '12345.67', managerName: '王经理', managerPhone: PM_PHONE },
  })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  r = await company('/applications', { method: 'POST', body: { projectId: r.body.id } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  const app = r.body
  await uploadVia(company, app.id, 'service_contract', '合同.pdf', 'application/pdf', pdf())
  await uploadVia(company, app.id, 'area_proof', '面积证明.pdf', 'application/pdf', pdf())
  r = await company(`/applications/${app.id}/submit`, { method: 'POST', body: { version: app.version } })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.equal(r.body.state, 'awaiting_area_confirmation')

  // The manager's token: a verified phone, no role. They land as a company.
  const page = await signedIn({ sub: 'oidc-pm-wang', name: '王经理', phone_number: PM_PHONE, phone_number_verified: true })
  assert.match(page.url(), /#\/company\/applications$/)
  const acting = []
  page.on('request', (req) => new URL(req.url()).pathname.startsWith('/api/v1/') && acting.push(req.headers()['x-acting-as'] ?? null))
  await page.locator(sel('tab-me')).click()
  await page.locator(sel('persona-project_manager')).click()
  assert.equal(await toast(page), '已切换为项目经理')
  await page.waitForURL(/#\/manager\/inbox$/)
  const item = page.locator(`${sel('manager-inbox')} ${sel(`app-${app.id}`)}`)
  await item.waitFor()
  assert.equal(await item.getAttribute('data-project'), '南园新村')
  assert.deepEqual(await tabs(page), ['待办', '通知', '我的'])
  assert.ok(acting.includes('project_manager'), 'the client asked to act as manager')
  assert.equal(await page.evaluate(() => sessionStorage.getItem('subsidy.actingAs')), 'project_manager')

  // It holds across a reload, and the manager confirms the area.
  await page.reload()
  await item.waitFor()
  await item.click()
  await page.locator(sel('confirm-area')).click()
  await page.waitForURL(/#\/manager\/inbox$/)
  await page.locator(sel('empty')).waitFor()
  assert.equal((await company(`/applications/${app.id}`)).body.state, 'pending_community')

  // Back to the company.
  await page.locator(sel('tab-me')).click()
  assert.equal(await page.locator(sel('persona-project_manager')).getAttribute('data-current'), 'true')
  assert.equal(await text(page, `${sel('me-name')} .van-cell__title`), '王经理\n项目经理')
  await page.locator(sel('persona-company')).click()
  await page.waitForURL(/#\/company\/applications$/)
  assert.deepEqual(await tabs(page), ['申请', '项目', '企业', '通知', '我的'])
  assert.deepEqual(page.errors, [])
  await page.context().close()

  // The same number, not verified, signing in on a tab where a manager's
  // session lapsed (it still says to act as manager): the server answers
  // 403 phone_not_verified, so they are signed in as a company and 我的
  // says why.
  const other = await loginPage()
  await other.evaluate(() => sessionStorage.setItem('subsidy.actingAs', 'project_manager'))
  const statuses = []
  other.on('response', (res) => new URL(res.url()).pathname === '/api/v1/me' && statuses.push(res.status()))
  await signInThrough(other, { sub: 'oidc-pm-unverified', name: '赵某', phone_number: PM_PHONE, phone_number_verified: false })
  assert.match(other.url(), /#\/me$/)
  const notice = sel('persona-refused')
  await other.locator(notice).waitFor()
  assert.equal(await text(other, `${notice} strong`), '无法切换为项目经理：您的登录账号没有已验证的手机号')
  assert.deepEqual(statuses, [403, 200], 'refused as manager, then read as a company')
  assert.equal(await other.evaluate(() => sessionStorage.getItem('subsidy.actingAs')), 'company')
  assert.equal(await other.locator(sel('persona-company')).getAttribute('data-current'), 'true')
  // Said once: the company's screens, then 我的 again, without it.
  await other.locator(sel('tab-applications')).click()
  await other.waitForURL(/#\/company\/applications$/)
  await other.locator(sel('tab-me')).click()
  await other.locator(sel('me-persona')).waitFor()
  assert.equal(await other.locator(notice).count(), 0)
  // Asking to act as manager: refused, said, and still a company (still signed in).
  await other.locator(sel('persona-project_manager')).click()
  await other.locator(notice).waitFor()
  assert.equal(await text(other, `${notice} strong`), '无法切换为项目经理：您的登录账号没有已验证的手机号')
  assert.match(await text(other, notice), /经短信验证的手机号/)
  assert.match(other.url(), /#\/me$/)
  assert.equal(await other.locator(sel('persona-company')).getAttribute('data-current'), 'true')
  assert.equal(await text(other, `${sel('me-name')} .van-cell__title`), '赵某\n物业服务企业')
  assert.ok(await other.evaluate(() => sessionStorage.getItem('subsidy.token')), 'still signed in')
  assert.equal(await other.evaluate(() => sessionStorage.getItem('subsidy.actingAs')), 'company')
  assert.deepEqual(statuses.slice(-2), [403, 200], 'the server refused the manager; /me read again as a company')
  await shot(other, '39-me-persona-refused')
  await other.locator(sel('lang-en')).click()
  assert.equal(await text(other, `${notice} strong`), 'You cannot act as a project manager: your sign-in has no verified mobile number')
  await other.locator(sel('lang-zh')).click()
  // The manager inbox is not theirs; the company's screens still are.
  await other.goto(`${server.url}/#/manager/inbox`)
  await other.waitForURL(/#\/company\/applications$/)
  await other.locator(sel('tab-company')).click()
  await other.locator(sel('company-form')).waitFor()
  assert.deepEqual(other.errors, [])
  await other.context().close()
})

test('a token that itself claims 项目经理 without a verified phone signs in as a company, told why; a lapsed session still signs out', async () => {
  const user = { sub: 'oidc-pm-claims-role', name: '钱某', role: 'project_manager', phone_number: PM_PHONE, phone_number_verified: false }
  // The server refuses the token as it is, and takes it as a company.
  const token = idp.mint(user)
  let r = await apiWith(server.url, token)('/me')
  assert.deepEqual([r.status, r.body.error.code], [403, 'phone_not_verified'])
  r = await apiWith(server.url, token, { actingAs: 'company' })('/me')
  assert.deepEqual([r.status, r.body.role], [200, 'company'])

  const page = await loginPage()
  const acting = []
  const asked = [] // the /me requests alone (the 通知 badge asks too, as a company)
  page.on('request', (req) => {
    const path = new URL(req.url()).pathname
    if (!path.startsWith('/api/v1/')) return
    acting.push(req.headers()['x-acting-as'] ?? null)
    if (path === '/api/v1/me') asked.push(req.headers()['x-acting-as'] ?? null)
  })
  await signInThrough(page, user)
  assert.match(page.url(), /#\/me$/)
  await page.locator(sel('persona-refused')).waitFor()
  assert.equal(await text(page, `${sel('persona-refused')} strong`), '无法切换为项目经理：您的登录账号没有已验证的手机号')
  assert.equal(await text(page, `${sel('me-name')} .van-cell__title`), '钱某\n物业服务企业')
  assert.equal(await page.locator(sel('persona-company')).getAttribute('data-current'), 'true')
  assert.deepEqual(asked, [null, 'company'], 'the token as it is, then as a company')
  assert.ok(acting[0] === null && acting.slice(1).every((a) => a === 'company'), `nothing else as the token: ${acting.join(' ')}`)
  assert.deepEqual(await tabs(page), ['申请', '项目', '企业', '通知', '我的'])
  // The company's screens work, acting as a company.
  await page.locator(sel('tab-company')).click()
  await page.locator(sel('company-form')).waitFor()
  assert.ok(acting.length > 2 && acting.slice(1).every((a) => a === 'company'), `every request after acts as a company: ${acting.join(' ')}`)
  // A reload keeps it, without asking as a manager again or saying it again.
  const before = acting.length
  await page.reload()
  await page.locator(sel('company-form')).waitFor()
  assert.ok(acting.slice(before).every((a) => a === 'company'), `after the reload: ${acting.slice(before).join(' ')}`)
  await page.locator(sel('tab-me')).click()
  await page.locator(sel('me-persona')).waitFor()
  assert.equal(await page.locator(sel('persona-refused')).count(), 0)

  // A session that lapses just as they ask to act as manager (the server
  // answers 401) signs them out, as any 401 does: it is not a missing phone.
  await page.route('**/api/v1/me', (route) =>
    route.request().headers()['x-acting-as'] === 'project_manager'
      ? route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unauthenticated', message: 'expired' } }) })
      : route.continue(),
  )
  await page.locator(sel('persona-project_manager')).click()
  await page.waitForURL(/#\/login\?expired=1$/)
  assert.equal(await page.evaluate(() => sessionStorage.getItem('subsidy.token')), null)
  assert.equal(await page.locator(sel('persona-refused')).count(), 0)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('退出登录 ends the session at the provider: signing in again goes through the provider, as whoever signs in now', async () => {
  const page = await signedIn({ sub: 'oidc-signout-a', name: '甲物业' })
  const signIn = asked('token').at(-1)
  assert.equal(signIn.sub, 'oidc-signout-a')
  assert.equal((await oidcUsers(page)).length, 1, 'oidc-client-ts keeps the signed-in user')

  // While the provider's session lives, it signs its user in again without
  // asking, whoever was chosen since: what signing out must end.
  const second = await page.context().newPage()
  second.errors = []
  await second.goto(`${server.url}/#/login`)
  await signInThrough(second, { sub: 'oidc-signout-b', name: '乙物业' })
  assert.deepEqual([asked('authorize').at(-1).session, asked('authorize').at(-1).sub], ['reused', 'oidc-signout-a'])
  await second.close()

  const authorizeBefore = asked('authorize').length
  const ended = asked('end_session').length
  const back = backFromSignOut(page)
  await signOut(page)
  await back
  await page.locator(sel('oidc-login')).waitFor()
  const end = asked('end_session')
  assert.equal(end.length, ended + 1, 'the client went to the provider’s end-session endpoint')
  assert.deepEqual(
    [end.at(-1).idTokenHint, end.at(-1).postLogoutRedirectUri, end.at(-1).ended],
    [signIn.idToken, `${server.url}/`, 'ended'],
  )
  assert.match(page.url(), /#\/login$/)
  assert.equal(await page.evaluate(() => sessionStorage.getItem('subsidy.token')), null)
  assert.deepEqual(await oidcUsers(page), [], 'the stored oidc-client-ts user is removed')

  // Signing in again asks the provider, which has no session to reuse.
  await signInThrough(page, { sub: 'oidc-signout-b', name: '乙物业' })
  const again = asked('authorize')
  assert.equal(again.length, authorizeBefore + 1, 'the provider’s /authorize was asked again')
  assert.deepEqual([again.at(-1).session, again.at(-1).sub], ['new', 'oidc-signout-b'])
  await page.locator(sel('tab-me')).click()
  assert.equal(await text(page, `${sel('me-name')} .van-cell__title`), '乙物业\n物业服务企业')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('with a provider that offers no end-session endpoint, 退出登录 still forgets the stored user', async () => {
  idp.offerEndSession(false)
  try {
    const page = await signedIn({ sub: 'oidc-signout-c', name: '丙物业' })
    assert.equal((await oidcUsers(page)).length, 1)
    const ended = asked('end_session').length
    await signOut(page)
    await page.waitForURL(/#\/login$/)
    await page.locator(sel('oidc-login')).waitFor()
    assert.equal(asked('end_session').length, ended, 'nowhere to end the provider’s session')
    assert.equal(await page.evaluate(() => sessionStorage.getItem('subsidy.token')), null)
    assert.deepEqual(await oidcUsers(page), [], 'the stored oidc-client-ts user is removed')
    assert.deepEqual(page.errors, [])
    await page.context().close()
  } finally {
    idp.offerEndSession(true)
  }
})

test('a member disabled with `staff disable` is turned away on their next request, and at their next sign-in', async () => {
  await staff('add', '--sub', 'oidc-community-chen', '--name', '陈初审', '--role', 'community', '--unit', '440304001020')
  const page = await signedIn({ sub: 'oidc-community-chen' })
  await until('the 初审 inbox', async () => (await text(page, '.van-nav-bar__title')) === '初审待办')
  await staff('disable', '--sub', 'oidc-community-chen')
  const signIn = asked('token').at(-1)
  assert.equal(signIn.sub, 'oidc-community-chen')

  // Turned away: the session at the provider ends too, and the login page,
  // back from there, says why.
  const ended = asked('end_session').length
  let back = backFromSignOut(page)
  await page.locator(sel('tab-dashboard')).click()
  await back
  await page.locator(sel('login-refused')).waitFor()
  assert.match(page.url(), /#\/login\?refused=account_disabled$/)
  assert.equal(await text(page, `${sel('login-refused')} strong`), '您的账号已被停用，请联系系统管理员')
  assert.equal(asked('end_session').length, ended + 1)
  assert.deepEqual([asked('end_session').at(-1).idTokenHint, asked('end_session').at(-1).ended], [signIn.idToken, 'ended'])
  assert.equal(await page.evaluate(() => sessionStorage.getItem('subsidy.token')), null)
  assert.deepEqual(await oidcUsers(page), [], 'the stored oidc-client-ts user is removed')
  assert.equal(await page.locator(sel('oidc-login')).count(), 1, 'signing in again is offered')

  // Signing in again goes through the provider (a new session there):
  // refused, with the same words, and signed out there again.
  idp.signInAs({ sub: 'oidc-community-chen' })
  back = backFromSignOut(page)
  await page.locator(sel('oidc-login')).click()
  await back
  assert.deepEqual([asked('authorize').at(-1).session, asked('authorize').at(-1).sub], ['new', 'oidc-community-chen'])
  assert.equal(asked('end_session').length, ended + 2)
  await page.locator(sel('login-refused')).waitFor()
  assert.match(page.url(), /#\/login\?refused=account_disabled$/)
  assert.equal(await text(page, `${sel('login-refused')} strong`), '您的账号已被停用，请联系系统管理员')
  assert.equal(await page.evaluate(() => sessionStorage.getItem('subsidy.token')), null)
  assert.deepEqual(await oidcUsers(page), [])
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the provider holds the client to PKCE: a code with the wrong verifier gets no tokens', async () => {
  idp.signInAs({ sub: 'oidc-pkce' })
  const redirect = `${server.url}/`
  const res = await fetch(
    `${idp.url}/authorize?${new URLSearchParams({
      client_id: CLIENT,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: redirect,
      state: 's1',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    })}`,
    { redirect: 'manual' },
  )
  assert.equal(res.status, 302)
  const code = new URL(res.headers.get('location')).searchParams.get('code')
  const exchange = (verifier) =>
    fetch(`${idp.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirect, client_id: CLIENT, code_verifier: verifier }),
    })
  const wrong = await exchange('not-the-verifier-not-the-verifier-not-the-verifier')
  assert.equal(wrong.status, 400)
  assert.equal((await wrong.json()).error, 'invalid_grant')
  // The code is spent either way.
  const again = await exchange('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')
  assert.equal(again.status, 400)
})
