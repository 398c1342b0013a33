import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import type { MeView, Role } from '../api/types'
import { personaOf, PERSONAS, switchPersona, type MeLoader, type Persona } from './persona'

const me = (role: Role, assignments: MeView['assignments'] = []): MeView => ({
  userId: 'u-1',
  role,
  name: null,
  unit: null,
  phone: null,
  company: null,
  assignments,
})

/** A loader answering as the server would for a subject with or without a verified phone; records each call. */
function server({ verifiedPhone, sessionLapsed = false }: { verifiedPhone: boolean; sessionLapsed?: boolean }) {
  const calls: [Persona, boolean][] = []
  const load: MeLoader = async (p, own) => {
    calls.push([p, own])
    if (sessionLapsed) throw new ApiError(401, 'unauthenticated', 'expired')
    if (p === 'project_manager' && !verifiedPhone) throw new ApiError(401, 'unauthenticated', 'no verified phone')
    return me(p)
  }
  return { load, calls }
}

describe('personaOf', () => {
  it('is the role of someone outside the staff directory', () => {
    expect(personaOf(me('company'))).toBe('company')
    expect(personaOf(me('project_manager'))).toBe('project_manager')
  })

  it('is nothing for staff and for no one signed in', () => {
    expect(personaOf(me('district', [{ role: 'district', unit: '440304', unitName: '福田区' }]))).toBeNull()
    expect(personaOf(me('admin', [{ role: 'admin', unit: '440300', unitName: '深圳市' }]))).toBeNull()
    expect(personaOf(me('city'))).toBeNull()
    expect(personaOf(null)).toBeNull()
  })

  it('offers the company first, then the manager', () => {
    expect(PERSONAS).toEqual(['company', 'project_manager'])
  })
})

describe('switchPersona', () => {
  it('acts as the manager when the server accepts the phone, keeping a 401 its own to read', async () => {
    const s = server({ verifiedPhone: true })
    const out = await switchPersona('project_manager', s.load)
    expect(out).toEqual({ me: me('project_manager'), acting: 'project_manager', refused: false })
    expect(s.calls).toEqual([['project_manager', true]])
  })

  it('stays a company, refused, when the server will not accept them as a manager', async () => {
    const s = server({ verifiedPhone: false })
    const out = await switchPersona('project_manager', s.load)
    expect(out).toEqual({ me: me('company'), acting: 'company', refused: true })
    // Read again as a company, where a 401 would be the session's.
    expect(s.calls).toEqual([
      ['project_manager', true],
      ['company', false],
    ])
  })

  it('lets a lapsed session sign the user out instead of calling it a missing phone', async () => {
    const s = server({ verifiedPhone: true, sessionLapsed: true })
    await expect(switchPersona('project_manager', s.load)).rejects.toMatchObject({ status: 401 })
    expect(s.calls).toEqual([
      ['project_manager', true],
      ['company', false],
    ])
  })

  it('passes on any other failure without falling back', async () => {
    const calls: Persona[] = []
    const load: MeLoader = async (p) => {
      calls.push(p)
      throw new ApiError(0, 'network', 'network error')
    }
    await expect(switchPersona('project_manager', load)).rejects.toMatchObject({ code: 'network' })
    expect(calls).toEqual(['project_manager'])
  })

  it('goes back to the company with the session’s usual 401 handling', async () => {
    const s = server({ verifiedPhone: true })
    expect(await switchPersona('company', s.load)).toEqual({ me: me('company'), acting: 'company', refused: false })
    expect(s.calls).toEqual([['company', false]])
  })
})
