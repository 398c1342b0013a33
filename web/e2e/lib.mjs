// The browser end-to-end harness: a fresh standalone server per test file
// (its own data directory and port), Debian's Chromium driven by
// playwright-core at a phone viewport, and helpers for the screens.

import { execFile, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
export const ROOT = resolve(here, '../..')
export const MANUAL = join(ROOT, 'docs/manual')
export const OUT = join(here, 'out')
const BIN = process.env.SUBSIDY_BIN ?? join(ROOT, 'target/debug/subsidy')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const TIMEOUT = 15_000

/**
 * Starts `subsidy serve --demo` on a free port with the built client;
 * resolves with `{ url, logs, restart, stop }` (see {@link serve}).
 * `policy`: a policy file (relative to the repository, e.g.
 * `config/policy-shenzhen-2020-notice.json`) in place of the built-in
 * one; the demo opens its window today, as it does the built-in one's.
 */
export async function startServer({ policy } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'subsidy-e2e-'))
  const args = ['--demo', '--addr', '127.0.0.1:0', '--web-dir', join(ROOT, 'web/dist'), '--nightly-every-hours', '0', '--fast-commit']
  if (policy) args.push('--policy', resolve(ROOT, policy))
  return serve(dataDir, args, [dataDir])
}

/**
 * Starts `subsidy serve` signing in with an OIDC provider (no --demo): the
 * built client is copied beside a config.json for `mode: "oidc"`, and the
 * server accepts only `issuer`'s tokens for `clientId`. `policy` (an
 * object) replaces the built-in policy. Resolves with its URL, its data
 * directory and `cli(...args)`, which runs `subsidy --data-dir <it> …`
 * (e.g. `staff add`) while it serves.
 */
export async function startOidcServer({ issuer, clientId = 'subsidy-web', scope = 'openid profile', policy } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'subsidy-e2e-oidc-'))
  const webDir = mkdtempSync(join(tmpdir(), 'subsidy-e2e-web-'))
  cpSync(join(ROOT, 'web/dist'), webDir, { recursive: true })
  writeFileSync(join(webDir, 'config.json'), JSON.stringify({ apiBase: '', auth: { mode: 'oidc', authority: issuer, clientId, scope } }))
  const args = ['--addr', '127.0.0.1:0', '--web-dir', webDir, '--oidc-issuer', issuer, '--oidc-audience', clientId, '--nightly-every-hours', '0', '--fast-commit']
  const remove = [dataDir, webDir]
  if (policy) {
    const dir = mkdtempSync(join(tmpdir(), 'subsidy-e2e-policy-'))
    writeFileSync(join(dir, 'policy.json'), JSON.stringify(policy))
    args.push('--policy', join(dir, 'policy.json'))
    remove.push(dir)
  }
  const server = await serve(dataDir, args, remove)
  return Object.assign(server, { dataDir, cli: (...a) => cli(dataDir, a) })
}

/** Runs `subsidy --data-dir <dataDir> …args`; resolves with its exit code and output. */
export function cli(dataDir, args) {
  return new Promise((ok) => {
    execFile(BIN, ['--data-dir', dataDir, ...args], { env: { ...process.env, RUST_LOG: 'warn' } }, (err, stdout, stderr) =>
      ok({ code: err ? (err.code ?? 1) : 0, stdout, stderr }),
    )
  })
}

/**
 * Spawns `subsidy --data-dir <dataDir> serve …args` and waits for its Web
 * line; `remove` goes when it stops. `restart(...extra)` stops it and
 * serves the same data directory again with `extra` arguments added (e.g.
 * `'--clock-offset-days', '10'`; an option the first start had, such as
 * `'--nightly-every-hours', '24'`, replaces it), on a new port: `url`
 * follows it.
 */
async function serve(dataDir, args, remove) {
  let log = ''
  let proc
  const server = {
    url: '',
    logs: () => log,
    async restart(...extra) {
      await halt(proc)
      log += `\n# restarted with ${extra.join(' ')}\n`
      ;({ proc, url: server.url } = await spawnServe(dataDir, withOptions(args, extra), (d) => (log += d), () => log))
      return server
    },
    async stop() {
      await halt(proc)
      for (const p of remove) rmSync(p, { recursive: true, force: true })
    },
  }
  ;({ proc, url: server.url } = await spawnServe(dataDir, args, (d) => (log += d), () => log))
  return server
}

/** `args` with `extra` added, an option in both taking its value from `extra`. */
function withOptions(args, extra) {
  const given = new Set(extra.filter((a) => a.startsWith('--')))
  const kept = []
  for (let i = 0; i < args.length; i++) {
    if (!given.has(args[i])) kept.push(args[i])
    else if (i + 1 < args.length && !args[i + 1].startsWith('--')) i++ // and its value
  }
  return [...kept, ...extra]
}

async function spawnServe(dataDir, args, append, logs) {
  const proc = spawn(BIN, ['--data-dir', dataDir, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } })
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start:\n${logs()}`)), 30_000)
    let out = ''
    proc.stdout.on('data', (d) => {
      append(d)
      out += d
      const m = /Web:\s+(http:\/\/[0-9.:]+)\//.exec(out)
      if (m) {
        clearTimeout(timer)
        ok(m[1])
      }
    })
    proc.stderr.on('data', append)
    proc.on('exit', (code) => fail(new Error(`server exited ${code}:\n${logs()}`)))
  })
  return { proc, url }
}

async function halt(proc) {
  proc.kill('SIGTERM')
  await new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.on('exit', r)))
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
}

const open = new Set()

/**
 * Screenshots every page a test left open (a passing test closes its
 * pages, so these are the screens of a failure) into e2e/out/, for CI logs.
 */
export async function keepFailedScreens(name) {
  mkdirSync(OUT, { recursive: true })
  let i = 0
  for (const page of open) {
    const file = join(OUT, `${name.replace(/[^\p{L}\p{N}]+/gu, '-')}-${++i}.png`)
    await page.screenshot({ path: file, fullPage: true }).catch(() => {})
    console.error(`# left open at ${page.url()} (errors: ${page.errors.map(String).join('; ') || 'none'}) → ${file}`)
    await page.context().close().catch(() => {})
  }
}

/** A fresh phone (its own storage) signed in as a demo account. */
export async function phone(browser, url, username, { locale = 'zh-CN' } = {}) {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale,
    timezoneId: 'Asia/Shanghai',
    acceptDownloads: true,
  })
  context.setDefaultTimeout(TIMEOUT)
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(e))
  page.errors = errors
  open.add(page)
  page.on('close', () => open.delete(page))
  await page.goto(`${url}/#/login`)
  if (username) await signIn(page, username)
  return page
}

export async function signIn(page, username) {
  await page.locator(`[data-test="account-${username}"]`).click()
  await page.waitForURL((u) => !u.hash.startsWith('#/login'))
}

const t = (name) => `[data-test="${name}"]`
export { t as sel }

/** Saves the screen for the operations manual (docs/manual/NN-name.png). */
export async function shot(page, name) {
  mkdirSync(MANUAL, { recursive: true })
  await page.waitForTimeout(350) // let transitions and charts settle
  await page.screenshot({ path: join(MANUAL, `${name}.png`), fullPage: false })
}

/** Saves the whole scrolled page, for long screens. */
export async function shotFull(page, name) {
  mkdirSync(MANUAL, { recursive: true })
  await page.waitForTimeout(350)
  // Fixed bars would float over the middle of a tall capture: let them flow.
  const style = await page.addStyleTag({ content: '.van-tabbar--fixed,.van-submit-bar{position:static!important}' })
  await page.screenshot({ path: join(MANUAL, `${name}.png`), fullPage: true })
  await style.evaluate((el) => el.remove())
}

/** Waits until `f` returns a truthy value (re-running it), or fails with `what`. */
export async function until(what, f, timeout = TIMEOUT) {
  const end = Date.now() + timeout
  let last
  while (Date.now() < end) {
    try {
      const v = await f()
      if (v) return v
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
}

export async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim()
}

/** Accepts the open confirm dialog. */
export async function confirmDialog(page) {
  await page.locator('.van-dialog__confirm').click()
}

/** A toast's text, once shown. */
export async function toast(page) {
  const el = page.locator('.van-toast').last()
  await el.waitFor({ state: 'visible' })
  return (await el.innerText()).trim()
}

/**
 * The API, as a demo account: for checking what the screens claim, and for
 * setting up a state a test does not click through itself.
 * `call(path)` is a GET; `call(path, { method, body })` sends JSON.
 */
export async function api(url, username) {
  const res = await fetch(`${url}/api/v1/auth/dev-login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username }),
  })
  const { token } = await res.json()
  return apiWith(url, token)
}

/** The API with a bearer token (e.g. one an OIDC provider issued); `call` as for {@link api}. */
export function apiWith(url, token, { actingAs } = {}) {
  return async (path, { method = 'GET', body } = {}) => {
    const headers = { Authorization: `Bearer ${token}` }
    if (actingAs) headers['X-Acting-As'] = actingAs
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (method !== 'GET') headers['Idempotency-Key'] = crypto.randomUUID()
    const r = await fetch(`${url}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await r.text()
    return { status: r.status, body: text ? JSON.parse(text) : null }
  }
}

/** Uploads `bytes` as a document of `kind` through the API's presigned request. */
export async function uploadVia(call, appId, kind, fileName, contentType, bytes) {
  const ticket = await call(`/applications/${appId}/documents`, {
    method: 'POST',
    body: { kind, fileName, contentType, size: bytes.length },
  })
  if (ticket.status !== 201 && ticket.status !== 200) throw new Error(`upload ticket: ${ticket.status} ${JSON.stringify(ticket.body)}`)
  const { upload } = ticket.body
  const put = await fetch(upload.url, { method: upload.method, headers: Object.fromEntries(upload.headers), body: bytes })
  if (!put.ok) throw new Error(`upload: ${put.status}`)
  return ticket.body.document
}

// ---- files to upload -------------------------------------------------------

/** A small, valid PDF (a page with no content). */
export function pdf(extra = 0) {
  const body =
    '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]>>endobj\ntrailer<</Root 1 0 R>>\n'
  return Buffer.concat([Buffer.from(body), Buffer.alloc(extra, 0x20), Buffer.from('%%EOF\n')])
}

/** A PNG of one colour, w×h: a stand-in for a photographed certificate. */
export function png(w = 240, h = 160, rgb = [29, 111, 224]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type), data])
    const c = Buffer.alloc(4)
    c.writeUInt32BE(crc(td))
    return Buffer.concat([len, td, c])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => rgb).flat())])
  const raw = Buffer.concat(Array.from({ length: h }, () => row))
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}
