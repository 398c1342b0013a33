// The request options the role switch on 我的 relies on: X-Acting-As for
// one request, and a 401 that does not end the session.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, onSignedOut, request, setActingAs, setToken } from './client'

let sent: Headers[] = []
let status = 200

beforeEach(() => {
  sent = []
  status = 200
  vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
    sent.push(new Headers(init.headers))
    const body = status === 200 ? { ok: true } : { error: { code: 'unauthenticated', message: 'no' } }
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
  it('signs the user out, unless the caller reads it itself', async () => {
    const signedOut = vi.fn()
    onSignedOut(signedOut)
    status = 401
    await expect(request('GET', '/me', { actingAs: 'project_manager', keepSessionOn401: true })).rejects.toBeInstanceOf(ApiError)
    expect(signedOut).not.toHaveBeenCalled()
    await expect(request('GET', '/me')).rejects.toMatchObject({ status: 401, code: 'unauthenticated' })
    expect(signedOut).toHaveBeenCalledTimes(1)
  })
})
