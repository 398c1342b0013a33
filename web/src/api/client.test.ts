// What the role switch on 我的 relies on: X-Acting-As for one request; a
// 401 always ends the session, and a 403 phone_not_verified does not.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { listPublicNotices, myObjection, objectToNotice, onRefused, onSignedOut, request, setActingAs, setToken } from './client'

let sent: Headers[] = []
let status = 200
let code = 'unauthenticated'

beforeEach(() => {
  sent = []
  status = 200
  code = 'unauthenticated'
  vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
    sent.push(new Headers(init.headers))
    const body = status === 200 ? { ok: true } : { error: { code, message: 'no' } }
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
  })
  setToken('t')
  setActingAs(null)
})
afterEach(() => {
  vi.unstubAllGlobals()
  setToken(null)
  setActingAs(null)
  onSignedOut(() => {})
  onRefused(() => {})
})

describe('X-Acting-As', () => {
  it('is the tab’s unless a request names its own', async () => {
    setActingAs('company')
    await request('GET', '/me')
    await request('GET', '/me', { actingAs: 'project_manager' })
    await request('GET', '/me', { actingAs: null })
    await request('GET', '/me')
    expect(sent.map((h) => h.get('X-Acting-As'))).toEqual(['company', 'project_manager', null, 'company'])
  })

  it('is never sent without a token', async () => {
    setToken(null)
    await request('GET', '/policy', { actingAs: 'project_manager' })
    expect(sent[0].get('X-Acting-As')).toBeNull()
  })
})

describe('a 401', () => {
  it('signs the user out, whatever they asked to act as', async () => {
    const signedOut = vi.fn()
    onSignedOut(signedOut)
    status = 401
    await expect(request('GET', '/me', { actingAs: 'project_manager' })).rejects.toMatchObject({ status: 401, code: 'unauthenticated' })
    expect(signedOut).toHaveBeenCalledTimes(1)
    await expect(request('GET', '/me')).rejects.toMatchObject({ status: 401 })
    expect(signedOut).toHaveBeenCalledTimes(2)
  })
})

describe('a 403', () => {
  it('phone_not_verified is the caller’s to read: the session is kept and the account not refused', async () => {
    const signedOut = vi.fn()
    const refused = vi.fn()
    onSignedOut(signedOut)
    onRefused(refused)
    status = 403
    code = 'phone_not_verified'
    await expect(request('GET', '/me', { actingAs: 'project_manager' })).rejects.toMatchObject({ status: 403, code: 'phone_not_verified' })
    expect(signedOut).not.toHaveBeenCalled()
    expect(refused).not.toHaveBeenCalled()
  })

  it('account_disabled refuses the account', async () => {
    const refused = vi.fn()
    onRefused(refused)
    status = 403
    code = 'account_disabled'
    await expect(request('GET', '/me')).rejects.toMatchObject({ status: 403, code: 'account_disabled' })
    expect(refused).toHaveBeenCalledWith('account_disabled')
  })
})

describe('a 409 spot_check_required', () => {
  const answer = (error: unknown) =>
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ error }), { status: 409, headers: { 'Content-Type': 'application/json' } }))

  it('carries the sample still to open', async () => {
    answer({ code: 'spot_check_required', message: 'open them', sample: ['a', 'b'] })
    await expect(request('POST', '/review/community/bulk-approve', { body: { items: [] } })).rejects.toMatchObject({
      status: 409,
      code: 'spot_check_required',
      sample: ['a', 'b'],
    })
  })

  it('has no sample when the body has none, or not a list', async () => {
    for (const sample of [undefined, 'a', { a: 1 }]) {
      answer({ code: 'spot_check_required', message: '', sample })
      const e = await request('POST', '/x').catch((e) => e)
      expect(e.code).toBe('spot_check_required')
      expect(e.sample).toBeUndefined()
    }
  })
})

describe('the public notice (公示)', () => {
  type Sent = { url: string; init: RequestInit }
  let calls: Sent[] = []
  beforeEach(() => {
    calls = []
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push({ url, init })
      const body = { district: '440304', districtName: '福田区', publicNoticeDays: 5, items: [], nextCursor: null }
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } })
    })
  })

  it('is read with no token when signed out, and with the browser cache unless asked afresh', async () => {
    setToken(null)
    await listPublicNotices({ district: '440304', limit: 50 })
    await listPublicNotices({ district: '440304', cursor: 'c1' }, { fresh: true })
    expect(calls.map((c) => new URL(c.url, 'http://x').search)).toEqual(['?district=440304&limit=50', '?district=440304&cursor=c1'])
    expect(calls.map((c) => new Headers(c.init.headers).get('Authorization'))).toEqual([null, null])
    expect(calls.map((c) => c.init.cache)).toEqual([undefined, 'no-cache'])
  })

  it('is objected to signed in, the reason in the body, the id in the path', async () => {
    await objectToNotice('01ABC/x', '该小区实际未提供服务')
    expect(calls[0].url).toMatch(/\/api\/v1\/public\/notices\/01ABC%2Fx\/objections$/)
    expect(calls[0].init.method).toBe('POST')
    expect(new Headers(calls[0].init.headers).get('Authorization')).toBe('Bearer t')
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ reason: '该小区实际未提供服务' })
  })

  it('tells the objector their own objection: a GET with the token, the id in the path', async () => {
    await myObjection('01ABC/x')
    expect(calls[0].url).toMatch(/\/api\/v1\/public\/notices\/01ABC%2Fx\/objections\/mine$/)
    expect(calls[0].init.method).toBe('GET')
    expect(new Headers(calls[0].init.headers).get('Authorization')).toBe('Bearer t')
    expect(calls[0].init.body).toBeUndefined()
  })
})
