// The staff directory through the administrator's screens: 福田区's
// administrator lists 福田区's staff (and no one else), searches and
// filters them, adds a community reviewer in 南园社区 through the unit tree,
// renames, disables and enables them. Bad input as much as good: missing
// fields, a subject the server refuses, a save over someone else's change,
// a role granted to oneself, disabling oneself as the last administrator,
// a unit outside 福田区 never offered. And what staff see: a disabled member
// turned away with the reason, a member with two assignments switching
// between them. Screens are saved for the operations manual (docs/manual/).

import { after, afterEach, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, confirmDialog, keepFailedScreens, launch, phone, sel, shot, signIn, startServer, text, toast, until } from './lib.mjs'

let server
let browser
/** The API as 福田区's administrator. */
let admin

before(async () => {
  server = await startServer()
  browser = await launch()
  admin = await api(server.url, 'admin-futian')
})
afterEach(async (t) => keepFailedScreens(t.name))
after(async () => {
  await browser?.close()
  await server?.stop()
})

/** 福田区's demo staff, in `sub` order (the list's order). */
const FUTIAN = [
  'demo-admin-futian',
  'demo-community-nanhua',
  'demo-community-nanyuan',
  'demo-district-futian',
  'demo-finance-futian',
  'demo-finance-futian-2',
  'demo-subdistrict-nanyuan',
]

const field = (name) => `${sel(name)} input`
const fieldError = (name) => `${sel(name)} .van-field__error-message`
const row = (i) => sel(`assignment-${i}`)

/** The subjects the staff list shows, in order. */
async function listed(page) {
  return page.locator(`${sel('staff-list')} > .van-cell`).evaluateAll((els) => els.map((e) => e.dataset.test.slice('staff-'.length)))
}

/** Every member the administrator's API lists, page after page. */
async function allStaff(call) {
  const subs = []
  let cursor = null
  do {
    const { status, body } = await call(`/admin/staff?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    assert.equal(status, 200, JSON.stringify(body))
    subs.push(...body.items.map((m) => m.sub))
    cursor = body.nextCursor
  } while (cursor)
  return subs
}

/** Waits for the edit form to show a member read from the server. */
async function openMember(page, sub) {
  await page.locator(sel(`staff-${sub}`)).click()
  await page.locator(sel('staff-updated')).waitFor()
}

/** Waits until no toast is showing, so that the next one read is the next one shown. */
async function quiet(page) {
  await page.locator('.van-toast').last().waitFor({ state: 'hidden' })
}

/** The names of the roles the open role sheet offers. */
async function roleOptions(page) {
  const sheet = page.locator('.van-action-sheet').filter({ has: page.locator('.role-option') })
  await sheet.locator('.role-option').first().waitFor()
  return (await sheet.locator('.role-option').allInnerTexts()).map((s) => s.trim())
}

async function crumbs(page) {
  return (await page.locator(`${sel('unit-crumbs')} .crumb`).allInnerTexts()).map((s) => s.trim())
}

/** Changes a member through the API, as another administrator would. */
async function change(sub, f) {
  const cur = (await admin(`/admin/staff/${encodeURIComponent(sub)}`)).body
  const next = f({ name: cur.name, assignments: cur.assignments.map(({ role, unit }) => ({ role, unit })), version: cur.version, active: cur.active })
  const res = await admin(`/admin/staff/${encodeURIComponent(sub)}`, { method: 'PUT', body: next })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

test('the login page lists the administrators; 福田区’s administrator sees 福田区’s staff and no one else’s', async () => {
  const page = await phone(browser, server.url)
  const group = page.locator(sel('group-admin'))
  await group.locator(sel('account-admin-futian')).waitFor()
  assert.equal(await group.locator(sel('account-admin-city')).count(), 1)
  assert.equal(await group.locator('.van-cell').count(), 2, 'only the administrators are in their group')
  assert.equal(await page.locator('.van-cell-group__title', { hasText: '系统管理员' }).count(), 1)

  await signIn(page, 'admin-futian')
  assert.match(page.url(), /#\/admin\/staff$/)
  await page.locator(sel('staff-demo-community-nanyuan')).waitFor()
  assert.deepEqual((await page.locator('.van-tabbar-item__text').allInnerTexts()).map((s) => s.trim()), ['名录', '通知', '我的'])
  assert.equal(await text(page, sel('staff-scope')), '管理范围：福田区及下级单位')
  const subs = await listed(page)
  assert.deepEqual(subs, FUTIAN)
  assert.deepEqual(subs, await allStaff(admin), 'the screen shows what the API lists')
  for (const outside of ['demo-community-kuichong', 'demo-district-dapeng', 'demo-finance-dapeng', 'demo-admin-city', 'demo-city']) {
    assert.ok(!subs.includes(outside), `${outside} is not 福田区's`)
  }
  // Each member: name, subject, and role · unit.
  const nanyuan = sel('staff-demo-community-nanyuan')
  assert.equal(await text(page, `${nanyuan} ${sel('staff-name')}`), '南园社区工作站')
  assert.match(await text(page, nanyuan), /demo-community-nanyuan/)
  assert.equal(await text(page, `${nanyuan} ${sel('staff-assignment')}`), '社区（初审） · 南园社区居委会')
  assert.equal(await text(page, `${sel('staff-demo-finance-futian')} ${sel('staff-assignment')}`), '区财政 · 福田区')
  assert.equal(await page.locator(`${sel('staff-list')} ${sel('chip-disabled')}`).count(), 0)
  await shot(page, '33-admin-staff-list')

  // By role.
  await page.locator(`${sel('staff-role-filter')} .van-dropdown-menu__item`).click()
  await page.locator('.van-dropdown-item__option', { hasText: '区财政' }).click()
  await until('only finance to be listed', async () => (await listed(page)).join() === 'demo-finance-futian,demo-finance-futian-2')
  assert.match(page.url(), /role=finance/)
  await page.locator(`${sel('staff-role-filter')} .van-dropdown-menu__item`).click()
  await page.locator('.van-dropdown-item__option', { hasText: '全部角色' }).click()
  await until('everyone to be listed again', async () => (await listed(page)).length === FUTIAN.length)

  // By name, and by subject whatever its case.
  await page.locator(field('staff-search')).fill('南园')
  await until('the search to find 南园', async () => (await listed(page)).join() === 'demo-community-nanyuan,demo-subdistrict-nanyuan')
  await page.locator(field('staff-search')).fill('FINANCE-FUTIAN')
  await until('the search to find the subjects', async () => (await listed(page)).join() === 'demo-finance-futian,demo-finance-futian-2')
  // 大鹏新区's staff cannot be found either.
  await page.locator(field('staff-search')).fill('dapeng')
  await page.locator(sel('empty')).waitFor()
  assert.equal(await text(page, `${sel('empty')} .van-empty__description`), '没有符合条件的工作人员')
  assert.deepEqual(await listed(page), [])

  // Back from a member, the list is as it was left.
  await page.locator(field('staff-search')).fill('南园')
  await until('the search to find 南园', async () => (await listed(page)).join() === 'demo-community-nanyuan,demo-subdistrict-nanyuan')
  await openMember(page, 'demo-subdistrict-nanyuan')
  assert.equal(await page.locator(field('name')).inputValue(), '南园街道办')
  await page.locator('.van-nav-bar__left').click()
  await until('the list as it was left', async () => (await listed(page)).join() === 'demo-community-nanyuan,demo-subdistrict-nanyuan')
  assert.equal(await page.locator(field('staff-search')).inputValue(), '南园')
  assert.deepEqual(page.errors, [])
  await page.context().close()

  // The city's administrator sees the whole city, 大鹏新区 included.
  const city = await phone(browser, server.url, 'admin-city')
  await city.locator(sel('staff-demo-district-dapeng')).waitFor()
  assert.ok((await listed(city)).includes('demo-admin-futian'))
  assert.deepEqual(city.errors, [])
  await city.context().close()
})

test('an administrator adds a community reviewer in 南园社区 through the tree, renames, disables and enables them', async () => {
  const page = await phone(browser, server.url, 'admin-futian')
  await page.locator(sel('staff-add')).click()
  await page.locator(sel('staff-form')).waitFor()
  const puts = []
  page.on('request', (r) => r.url().includes('/api/v1/admin/staff/') && r.method() === 'PUT' && puts.push(decodeURIComponent(r.url())))

  // Nothing filled in: every missing field is named, and nothing is sent.
  await page.locator(sel('staff-save')).click()
  assert.equal(await text(page, fieldError('sub')), '请填写用户标识')
  assert.equal(await text(page, fieldError('name')), '请填写姓名')
  assert.equal(await text(page, `${row(0)} ${fieldError('unit')}`), '请填写单位')
  assert.equal(await text(page, `${row(0)} ${fieldError('role')}`), '请填写角色')
  // A name of spaces is no name.
  await page.locator(field('sub')).fill('nanyuan-reviewer')
  await page.locator(field('name')).fill('   ')
  await page.locator(sel('staff-save')).click()
  assert.equal(await text(page, fieldError('name')), '请填写姓名')
  assert.deepEqual(puts, [])

  // The unit, from the tree below 福田区; then a role that fits it.
  await page.locator(field('name')).fill('南园社区初审员')
  await page.locator(`${row(0)} ${sel('unit')}`).click()
  await page.locator(sel('crumb-440304')).waitFor()
  assert.deepEqual(await crumbs(page), ['福田区'])
  await page.locator(sel('unit-440304001')).click()
  await page.locator(sel('crumb-440304001')).waitFor()
  assert.deepEqual(await crumbs(page), ['福田区', '南园街道'])
  await page.locator(sel('unit-440304001020')).waitFor()
  await shot(page, '35-admin-unit-picker')
  await page.locator(sel('unit-440304001020')).click()
  // A community takes a community reviewer or an administrator, nothing else.
  assert.deepEqual(await roleOptions(page), ['社区（初审）', '系统管理员'])
  await page.locator('.van-action-sheet .role-community').click()
  assert.equal(await page.locator(`${row(0)} ${field('unit')}`).inputValue(), '南园社区居委会')
  assert.equal(await page.locator(`${row(0)} ${sel('role')}`).getAttribute('data-role'), 'community')
  assert.equal(await page.locator(`${row(0)} ${sel('unit')}`).getAttribute('data-unit'), '440304001020')

  // A subject with a space: the server refuses it, and says so at the field.
  await page.locator(field('sub')).fill('nanyuan reviewer')
  await quiet(page)
  await page.locator(sel('staff-save')).click()
  assert.equal(await toast(page), '请按提示修改后再保存')
  assert.equal(await text(page, fieldError('sub')), '用户标识须为 1–200 个字符，不能含空格或控制字符')
  assert.deepEqual(puts.map((u) => u.split('/admin/staff/')[1]), ['nanyuan reviewer'])
  assert.equal((await admin('/admin/staff/nanyuan%20reviewer')).status, 404, 'nothing was stored')

  // A subject already in the directory: named at the field too.
  await page.locator(field('sub')).fill('demo-community-nanyuan')
  assert.equal(await page.locator(fieldError('sub')).count(), 0, 'the error goes as the field is corrected')
  await page.locator(sel('staff-save')).click()
  assert.equal(await text(page, fieldError('sub')), '该用户标识已在名录中')
  assert.equal((await admin('/admin/staff/demo-community-nanyuan')).body.name, '南园社区工作站', 'the member there is unchanged')

  await page.locator(field('sub')).fill('nanyuan-reviewer')
  await quiet(page)
  await shot(page, '34-admin-staff-form')
  await quiet(page)
  await page.locator(sel('staff-save')).click()
  assert.equal(await toast(page), '已新增')
  await page.waitForURL(/#\/admin\/staff$/)
  const created = sel('staff-nanyuan-reviewer')
  await page.locator(created).waitFor()
  assert.equal(await text(page, `${created} ${sel('staff-name')}`), '南园社区初审员')
  assert.equal(await text(page, `${created} ${sel('staff-assignment')}`), '社区（初审） · 南园社区居委会')
  let stored = (await admin('/admin/staff/nanyuan-reviewer')).body
  assert.deepEqual(stored.assignments, [{ role: 'community', unit: '440304001020', unitName: '南园社区居委会' }])
  assert.deepEqual([stored.name, stored.active, stored.version, stored.updatedBy], ['南园社区初审员', true, 1, 'demo-admin-futian'])

  // Renamed; the subject cannot change.
  await openMember(page, 'nanyuan-reviewer')
  assert.equal(await page.locator(field('sub')).inputValue(), 'nanyuan-reviewer')
  assert.notEqual(await page.locator(field('sub')).getAttribute('readonly'), null)
  assert.equal(await page.locator(sel('chip-active')).count(), 1)
  await page.locator(field('name')).fill('南园社区初审员（张三）')
  await quiet(page)
  await page.locator(sel('staff-save')).click()
  assert.equal(await toast(page), '已保存')
  await page.waitForURL(/#\/admin\/staff$/)
  await until('the new name in the list', async () => (await text(page, `${created} ${sel('staff-name')}`)) === '南园社区初审员（张三）')
  stored = (await admin('/admin/staff/nanyuan-reviewer')).body
  assert.deepEqual([stored.name, stored.version, stored.active], ['南园社区初审员（张三）', 2, true])

  // Disabled after a confirmation; backing out changes nothing.
  await openMember(page, 'nanyuan-reviewer')
  await page.locator(sel('staff-disable')).click()
  const dialog = page.locator('.disable-confirm')
  await dialog.waitFor()
  await quiet(page)
  assert.match(await dialog.innerText(), /停用后「南园社区初审员（张三）」不能再登录办理业务/)
  await shot(page, '36-admin-disable-confirm')
  await page.locator('.disable-confirm .van-dialog__cancel').click()
  await dialog.waitFor({ state: 'hidden' })
  assert.equal((await admin('/admin/staff/nanyuan-reviewer')).body.active, true)
  await page.locator(sel('staff-disable')).click()
  await quiet(page)
  await confirmDialog(page)
  assert.equal(await toast(page), '已停用')
  await page.locator(`${sel('staff-form')} ${sel('chip-disabled')}`).waitFor()
  assert.equal(await text(page, sel('disabled-notice')), '该人员已停用，不能登录办理业务。')
  assert.equal(await page.locator(sel('staff-disable')).count(), 0)
  stored = (await admin('/admin/staff/nanyuan-reviewer')).body
  assert.deepEqual([stored.active, stored.version, stored.name], [false, 3, '南园社区初审员（张三）'], 'disabled, the record kept')
  await page.locator('.van-nav-bar__left').click()
  await page.locator(`${created} ${sel('chip-disabled')}`).waitFor()
  assert.equal(await page.locator(`${sel('staff-list')} ${sel('chip-disabled')}`).count(), 1, 'only they are disabled')
  assert.equal(await page.locator(created).getAttribute('data-active'), 'false')

  // A disabled member renamed stays disabled.
  await openMember(page, 'nanyuan-reviewer')
  await page.locator(field('name')).fill('南园社区初审员（停用中）')
  await quiet(page)
  await page.locator(sel('staff-save')).click()
  assert.equal(await toast(page), '已保存')
  stored = (await admin('/admin/staff/nanyuan-reviewer')).body
  assert.deepEqual([stored.name, stored.active], ['南园社区初审员（停用中）', false])

  // Enabled again.
  await page.waitForURL(/#\/admin\/staff$/)
  await openMember(page, 'nanyuan-reviewer')
  await quiet(page)
  await page.locator(sel('staff-enable')).click()
  assert.equal(await toast(page), '已启用')
  await page.locator(sel('chip-active')).waitFor()
  assert.equal(await page.locator(sel('disabled-notice')).count(), 0)
  assert.equal((await admin('/admin/staff/nanyuan-reviewer')).body.active, true)
  await page.locator('.van-nav-bar__left').click()
  await page.locator(created).waitFor()
  assert.equal(await page.locator(`${created} ${sel('chip-disabled')}`).count(), 0)
  assert.equal(await page.locator(created).getAttribute('data-active'), 'true')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('a save over someone else’s change is refused, said, and the member read again', async () => {
  const made = await admin('/admin/staff/nanhua-clerk', {
    method: 'PUT',
    body: { name: '南华社区经办人', assignments: [{ role: 'community', unit: '440304001023' }] },
  })
  assert.equal(made.status, 201, JSON.stringify(made.body))
  const page = await phone(browser, server.url, 'admin-futian')
  await openMember(page, 'nanhua-clerk')
  const before = (await admin('/admin/staff/nanhua-clerk')).body

  // Between loading and saving, the member is changed from elsewhere (here
  // from the same page, with its own token, as a second tab would).
  const status = await page.evaluate(async () => {
    const headers = {
      Authorization: `Bearer ${sessionStorage.getItem('subsidy.token')}`,
      'Content-Type': 'application/json',
    }
    const cur = await (await fetch('/api/v1/admin/staff/nanhua-clerk', { headers })).json()
    const body = { name: '他处修改的名字', assignments: cur.assignments.map(({ role, unit }) => ({ role, unit })), version: cur.version, active: cur.active }
    const res = await fetch('/api/v1/admin/staff/nanhua-clerk', {
      method: 'PUT',
      headers: { ...headers, 'Idempotency-Key': crypto.randomUUID() },
      body: JSON.stringify(body),
    })
    return res.status
  })
  assert.equal(status, 200)

  await page.locator(field('name')).fill('我的修改')
  await quiet(page)
  await page.locator(sel('staff-save')).click()
  assert.equal(await toast(page), '数据已被他人修改，已为您刷新，请重新操作')
  await until('the form to show the other change', async () => (await page.locator(field('name')).inputValue()) === '他处修改的名字')
  assert.match(page.url(), /#\/admin\/staff\/edit\/nanhua-clerk$/, 'still on the member')
  let stored = (await admin('/admin/staff/nanhua-clerk')).body
  assert.deepEqual([stored.name, stored.version], ['他处修改的名字', before.version + 1], 'the stale save changed nothing')

  // Read again, the change goes through.
  await quiet(page)
  await page.locator(field('name')).fill('我的修改')
  await quiet(page)
  await page.locator(sel('staff-save')).click()
  assert.equal(await toast(page), '已保存')
  stored = (await admin('/admin/staff/nanhua-clerk')).body
  assert.deepEqual([stored.name, stored.version], ['我的修改', before.version + 2])
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('an administrator can neither give themselves a role nor disable themselves as 福田区’s last administrator', async () => {
  const page = await phone(browser, server.url, 'admin-futian')
  await openMember(page, 'demo-admin-futian')
  assert.equal(await page.locator(`${row(0)} ${field('unit')}`).inputValue(), '福田区')
  assert.equal(await page.locator(`${row(0)} ${sel('role')}`).getAttribute('data-role'), 'admin')

  // A second assignment: 福田区 itself, where a district-level unit takes
  // 区（审核）, 区财政 or an administrator.
  await page.locator(sel('add-assignment')).click()
  await page.locator(`${row(1)} ${sel('unit')}`).click()
  await page.locator(sel('crumb-440304')).waitFor()
  await page.locator(sel('unit-pick')).click()
  assert.deepEqual(await roleOptions(page), ['区（审核）', '区财政', '系统管理员'])
  // The same assignment twice is caught before anything is sent.
  await page.locator('.van-action-sheet .role-admin').click()
  assert.equal(await text(page, `${row(1)} ${fieldError('role')}`), '与另一项职责重复')
  await page.locator(`${row(1)} ${sel('role')}`).click()
  await page.locator('.van-action-sheet .role-district').click()
  assert.equal(await page.locator(`${row(1)} ${fieldError('role')}`).count(), 0)
  await page.locator(sel('staff-save')).click()
  assert.equal(await text(page, sel('assignments-error')), '不能给自己增加职责，须由其他系统管理员办理')
  let me = (await admin('/admin/staff/demo-admin-futian')).body
  assert.deepEqual(me.assignments.map((a) => `${a.role}:${a.unit}`), ['admin:440304'], 'nothing was granted')
  await page.locator(`${row(1)} ${sel('remove-assignment')}`).click()
  assert.equal(await page.locator(sel('assignments-error')).count(), 0)
  assert.equal(await page.locator(row(1)).count(), 0)

  // Disabling oneself would leave 福田区 without an administrator.
  await page.locator(sel('staff-disable')).click()
  await page.locator('.disable-confirm').waitFor()
  await quiet(page)
  await confirmDialog(page)
  assert.equal(await toast(page), '您是本单位最后一位在用的系统管理员，请先添加另一位管理员')
  me = (await admin('/admin/staff/demo-admin-futian')).body
  assert.equal(me.active, true)
  assert.equal(await page.locator(sel('chip-active')).count(), 1)
  assert.match(page.url(), /#\/admin\/staff\/edit\/demo-admin-futian$/, 'still signed in, on the same screen')
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the unit picker never offers a unit outside 福田区', async () => {
  const page = await phone(browser, server.url, 'admin-futian')
  const asked = new Set()
  page.on('request', (r) => {
    const m = /\/api\/v1\/jurisdictions\/([^/?]+)/.exec(r.url())
    if (m) asked.add(decodeURIComponent(m[1]))
  })
  await page.locator(sel('staff-add')).click()
  await page.locator(`${row(0)} ${sel('unit')}`).click()
  await page.locator(sel('crumb-440304')).waitFor()
  assert.deepEqual(await crumbs(page), ['福田区'], 'nothing above 福田区 to go up to')

  // Every unit offered, at every level below 福田区.
  const offered = new Set()
  const shown = async () => page.locator(`${sel('unit-children')} .van-cell`).evaluateAll((els) => els.map((e) => [e.dataset.code, e.dataset.level]))
  const subdistricts = await shown()
  const futian = (await admin('/jurisdictions/440304')).body
  assert.deepEqual(subdistricts.map(([c]) => c), futian.children.map((c) => c.code), '福田区’s units, all of them')
  for (const [code, level] of subdistricts) {
    offered.add(code)
    if (level === 'community') continue
    await page.locator(sel(`unit-${code}`)).click()
    await page.locator(sel(`crumb-${code}`)).waitFor()
    for (const [c] of await shown()) offered.add(c)
    await page.locator(sel('crumb-440304')).click()
    await page.locator(sel(`crumb-${code}`)).waitFor({ state: 'detached' })
  }
  assert.ok(offered.has('440304001020'), '南园社区 is among them')
  assert.ok(offered.size > 50, `${offered.size} units offered`)

  // Each offered (and each looked up) lies in 福田区's subtree.
  const parent = new Map()
  async function inFutian(code) {
    for (let c = code; c; ) {
      if (c === '440304') return true
      if (!parent.has(c)) {
        const { status, body } = await admin(`/jurisdictions/${c}`)
        assert.equal(status, 200, c)
        parent.set(c, body.parent)
      }
      c = parent.get(c)
    }
    return false
  }
  const outside = []
  for (const code of new Set([...offered, ...asked])) if (!(await inFutian(code))) outside.push(code)
  assert.deepEqual(outside, [])
  assert.ok(!asked.has('440300'), 'the city was never even looked up')
  assert.deepEqual(page.errors, [])
  await page.context().close()

  // The city's administrator starts at the city, 大鹏新区 included.
  const city = await phone(browser, server.url, 'admin-city')
  await city.locator(sel('staff-add')).click()
  await city.locator(`${row(0)} ${sel('unit')}`).click()
  await city.locator(sel('crumb-440300')).waitFor()
  await city.locator(sel('unit-440398')).waitFor()
  assert.deepEqual(await crumbs(city), ['深圳市'])
  await city.context().close()
})

test('a disabled member is turned away with the reason, at once and at sign-in; enabled again, they are back', async () => {
  const nanhua = await phone(browser, server.url, 'community-nanhua')
  await nanhua.locator(sel('tabbar')).waitFor()
  const disabled = await admin('/admin/staff/demo-community-nanhua', { method: 'DELETE' })
  assert.equal(disabled.status, 200)
  assert.equal(disabled.body.active, false)

  // Their next request is refused: signed out, and told why.
  await nanhua.locator(sel('tab-dashboard')).click()
  await nanhua.locator(sel('login-refused')).waitFor()
  assert.match(nanhua.url(), /#\/login\?refused=account_disabled/)
  assert.equal(await text(nanhua, `${sel('login-refused')} strong`), '您的账号已被停用，请联系系统管理员')
  assert.equal(await nanhua.evaluate(() => sessionStorage.getItem('subsidy.token')), null)
  assert.deepEqual(nanhua.errors, [])
  await nanhua.context().close()

  // Signing in again: refused, in words, in either language.
  const page = await phone(browser, server.url)
  await page.locator(sel('account-community-nanhua')).click()
  await page.locator(sel('login-refused')).waitFor()
  assert.equal(await text(page, `${sel('login-refused')} strong`), '您的账号已被停用，请联系系统管理员')
  assert.match(page.url(), /#\/login$/)
  assert.equal(await page.evaluate(() => sessionStorage.getItem('subsidy.token')), null)
  await shot(page, '37-account-disabled')
  await page.locator(sel('lang-en')).click()
  assert.equal(await text(page, `${sel('login-refused')} strong`), 'Your account has been disabled; please contact your administrator')
  await page.locator(sel('lang-zh')).click()

  // Enabled again: in.
  await change('demo-community-nanhua', (m) => ({ ...m, active: true }))
  await signIn(page, 'community-nanhua')
  assert.match(page.url(), /#\/review\/inbox/)
  assert.equal(await page.locator(sel('login-refused')).count(), 0)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('a member with two assignments acts with one at a time, switching under 我的', async () => {
  // 南华社区工作站 also does 南园街道's 复核.
  await change('demo-community-nanhua', (m) => ({
    ...m,
    assignments: [
      { role: 'community', unit: '440304001023' },
      { role: 'subdistrict', unit: '440304001' },
    ],
  }))
  const page = await phone(browser, server.url, 'community-nanhua')
  const title = () => text(page, '.van-nav-bar__title')
  await until('the 初审 inbox', async () => (await title()) === '初审待办')

  await page.locator(sel('tab-me')).click()
  const mine = sel('me-assignments')
  await page.locator(mine).waitFor()
  assert.deepEqual((await page.locator(`${mine} .van-cell__title`).allInnerTexts()).map((s) => s.split('\n')[0].trim()), ['社区（初审）', '街道（复核）'])
  assert.equal(await page.locator(sel('assignment-community-440304001023')).getAttribute('data-current'), 'true')
  await quiet(page)
  await page.locator(sel('assignment-subdistrict-440304001')).click()
  assert.equal(await toast(page), '已切换为街道（复核）（南园街道）')
  await until('the 复核 inbox', async () => (await title()) === '复核待办')
  // It holds across a reload.
  await page.reload()
  await until('the 复核 inbox after a reload', async () => (await title()) === '复核待办')
  await page.locator(sel('tab-me')).click()
  assert.equal(await page.locator(sel('assignment-subdistrict-440304001')).getAttribute('data-current'), 'true')
  assert.equal(await text(page, `${sel('me-unit')} .van-cell__value`), '南园街道')

  // The administrator takes 复核 away: the member acts with what is left.
  await change('demo-community-nanhua', (m) => ({ ...m, assignments: [{ role: 'community', unit: '440304001023' }] }))
  await page.locator(sel('tab-inbox')).click()
  await until('the 初审 inbox again', async () => (await title()) === '初审待办')
  await page.locator(sel('tab-me')).click()
  await page.locator(sel('assignment-community-440304001023')).waitFor()
  assert.equal(await page.locator(`${mine} .van-cell`).count(), 1)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test('the list comes a page at a time', async () => {
  for (let i = 1; i <= 21; i++) {
    const sub = `zz-page-${String(i).padStart(2, '0')}`
    const res = await admin(`/admin/staff/${sub}`, {
      method: 'PUT',
      body: { name: `滨河社区工作人员${i}`, assignments: [{ role: 'community', unit: '440304001025' }] },
    })
    assert.equal(res.status, 201, JSON.stringify(res.body))
  }
  const everyone = await allStaff(admin)
  assert.ok(everyone.length > 20 && everyone.length <= 40, `${everyone.length} members`)

  const page = await phone(browser, server.url, 'admin-futian')
  await page.locator(sel('staff-more')).waitFor()
  assert.deepEqual(await listed(page), everyone.slice(0, 20))
  await page.locator(sel('staff-more')).click()
  await page.locator(sel('staff-more')).waitFor({ state: 'detached' })
  assert.deepEqual(await listed(page), everyone)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})
