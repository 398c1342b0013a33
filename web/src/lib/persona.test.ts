import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import type { MeView, Role } from '../api/types'
import { isPhoneRefusal, personaOf, PERSONAS, switchPersona, type MeLoader, type Persona } from './persona'

const me = (role: Role, assignments: MeView['assignments'] = []): MeView => ({
  userId: 'u-1',
  role,
  name: null,
  unit: null,
  phone: null,
  company: null,
  assignments,
})

/**
 * A loader answering as the server would for a subject with or without a
 * verified phone, whose token may claim `role: project_manager` itself;
 * records the X-Acting-As of each call.
 */
function server({ verifiedPhone, claimsManager = false, sessionLapsed = false }: { verifiedPhone: boolean; claimsManager?: boolean; sessionLapsed?: boolean }) {
  const calls: (Persona | null)[] = []
  const load: MeLoader = async (p) => {
    calls.push(p)
    if (sessionLapsed) throw new ApiError(401, 'unauthenticated', 'expired')
    const as = p ?? (claimsManager ? 'project_manager' : 'company')
    if (as === 'project_manager' && !verifiedPhone) throw new ApiError(403, 'phone_not_verified', 'no verified phone')
    return me(as)
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

describe('isPhoneRefusal', () => {
  it('is the server’s 403 phone_not_verified, and nothing else', () => {
    expect(isPhoneRefusal(new ApiError(403, 'phone_not_verified', 'x'))).toBe(true)
    expect(isPhoneRefusal(new ApiError(401, 'unauthenticated', 'x'))).toBe(false)
    expect(isPhoneRefusal(new ApiError(403, 'account_disabled', 'x'))).toBe(false)
    expect(isPhoneRefusal(new Error('phone_not_verified'))).toBe(false)
  })
})

describe('switchPersona', () => {
  it('acts as the manager when the server accepts the phone', async () => {
    const s = server({ verifiedPhone: true })
    const out = await switchPersona('project_manager', s.load)
    expect(out).toEqual({ me: me('project_manager'), acting: 'project_manager', refused: false })
    expect(s.calls).toEqual(['project_manager'])
  })

  it('acts as a company, refused, when the server answers 403 phone_not_verified', async () => {
    const s = server({ verifiedPhone: false })
    const out = await switchPersona('project_manager', s.load)
    expect(out).toEqual({ me: me('company'), acting: 'company', refused: true })
    expect(s.calls).toEqual(['project_manager', 'company'])
  })

  it('at sign-in, acts as a company when the token itself claims a manager without a verified phone', async () => {
    const s = server({ verifiedPhone: false, claimsManager: true })
    const out = await switchPersona(null, s.load)
    expect(out).toEqual({ me: me('company'), acting: 'company', refused: true })
    expect(s.calls).toEqual([null, 'company'])
  })

  it('at sign-in, sends nothing for a token the server takes as it is', async () => {
    const verified = server({ verifiedPhone: true, claimsManager: true })
    expect(await switchPersona(null, verified.load)).toEqual({ me: me('project_manager'), acting: null, refused: false })
    const company = server({ verifiedPhone: false })
    expect(await switchPersona(null, company.load)).toEqual({ me: me('company'), acting: null, refused: false })
    expect([...verified.calls, ...company.calls]).toEqual([null, null])
  })

  it('lets a 401 be the session’s: thrown, never read as a missing phone', async () => {
    const s = server({ verifiedPhone: true, sessionLapsed: true })
    await expect(switchPersona('project_manager', s.load)).rejects.toMatchObject({ status: 401, code: 'unauthenticated' })
    expect(s.calls).toEqual(['project_manager'])
  })

  it('passes on any other failure without falling back', async () => {
    for (const e of [new ApiError(0, 'network', 'network error'), new ApiError(403, 'account_disabled', 'disabled')]) {
      const calls: (Persona | null)[] = []
      const load: MeLoader = async (p) => {
        calls.push(p)
        throw e
      }
      await expect(switchPersona('project_manager', load)).rejects.toBe(e)
      expect(calls).toEqual(['project_manager'])
    }
  })

  it('goes back to the company, and a refusal there is not turned into anything else', async () => {
    const s = server({ verifiedPhone: true })
    expect(await switchPersona('company', s.load)).toEqual({ me: me('company'), acting: 'company', refused: false })
    expect(s.calls).toEqual(['company'])
    const refusing: MeLoader = async () => {
      throw new ApiError(403, 'phone_not_verified', 'x')
    }
    await expect(switchPersona('company', refusing)).rejects.toMatchObject({ code: 'phone_not_verified' })
  })
})
