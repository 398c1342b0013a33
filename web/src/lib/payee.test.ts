import { describe, expect, it } from 'vitest'
import type { PayeeReveal, State } from '../api/types'
import { accountToVerify, canVerify, changedFields, groupBy4, payeeCheckSettled, payeeToVerify, verifyBlocker, verifyBody } from './payee'

const onFile = { bankName: '中国建设银行深圳分行', accountName: '深圳市安居物业服务有限公司', accountNumber: '4000021234567890123' }
const personal = { bankName: '中国建设银行深圳分行', accountName: '张三', accountNumber: '6217000011112222' }
const reveal = (over: Partial<PayeeReveal> = {}): PayeeReveal => ({
  applicationId: 'a1',
  version: 12,
  companyName: '深圳市安居物业服务有限公司',
  creditCode: '91440300MA5D000014',
  payee: onFile,
  change: personal,
  holderNameMatches: false,
  ...over,
})

describe('groupBy4', () => {
  it('groups a full number by four digits from the left', () => {
    expect(groupBy4('4000021234567890123')).toBe('4000 0212 3456 7890 123')
    expect(groupBy4('6217000011112222')).toBe('6217 0000 1111 2222')
    expect(groupBy4('12345678')).toBe('1234 5678')
  })

  it('leaves no trailing space and shows short or empty numbers as they are', () => {
    expect(groupBy4('123')).toBe('123')
    expect(groupBy4('1234')).toBe('1234')
    expect(groupBy4('12345')).toBe('1234 5')
    expect(groupBy4('')).toBe('')
  })

  it('regroups a number that came with spaces or dashes', () => {
    expect(groupBy4(' 6217-0000 11112222 ')).toBe('6217 0000 1111 2222')
  })
})

describe('payeeToVerify', () => {
  const all: State[] = [
    'draft',
    'awaiting_area_confirmation',
    'pending_community',
    'pending_subdistrict',
    'pending_district',
    'in_public_notice',
    'approved',
    'in_payment_batch',
    'paid',
    'returned',
    'rejected',
    'withdrawn',
    'payment_failed',
  ]

  it('offers verification of a change only at the district review, in the public notice and after approval', () => {
    const offered = all.filter((state) => payeeToVerify({ state, payeeChangePending: true }))
    expect(offered).toEqual(['pending_district', 'in_public_notice', 'approved', 'payment_failed'])
  })

  it('offers nothing without a change, except after a failed payment', () => {
    expect(all.filter((state) => payeeToVerify({ state, payeeChangePending: false }))).toEqual(['payment_failed'])
  })
})

describe('the account to verify', () => {
  it('is the change, or the account on file when a payment failed without one', () => {
    expect(accountToVerify(reveal())).toBe(personal)
    expect(accountToVerify(reveal({ change: null }))).toBe(onFile)
    expect(accountToVerify(reveal({ change: null, payee: null }))).toBeNull()
  })

  it('names what differs from the account on file', () => {
    expect(changedFields(onFile, personal)).toEqual(['accountName', 'accountNumber'])
    expect(changedFields(onFile, { ...onFile, bankName: '招商银行' })).toEqual(['bankName'])
    expect(changedFields(onFile, { ...onFile })).toEqual([])
    expect(changedFields(onFile, null)).toEqual([])
    expect(changedFields(null, personal)).toEqual([])
  })
})

describe('the verify button', () => {
  const gate = { reveal: reveal(), appVersion: 12, holderConfirmed: false, busy: false }

  it('waits for the full account to be opened', () => {
    expect(verifyBlocker({ ...gate, reveal: null })).toBe('reveal')
    expect(canVerify({ ...gate, reveal: null, holderConfirmed: true })).toBe(false)
  })

  it('waits for the holder to be confirmed when the name is not the company’s', () => {
    expect(verifyBlocker(gate)).toBe('holder')
    expect(canVerify(gate)).toBe(false)
    expect(canVerify({ ...gate, holderConfirmed: true })).toBe(true)
  })

  it('needs no confirmation when the holder is the company', () => {
    expect(canVerify({ ...gate, reveal: reveal({ holderNameMatches: true }) })).toBe(true)
  })

  it('asks for a new view once the application changed after it', () => {
    expect(verifyBlocker({ ...gate, holderConfirmed: true, appVersion: 13 })).toBe('stale')
    // The page may still hold the version from before the reveal.
    expect(canVerify({ ...gate, holderConfirmed: true, appVersion: 11 })).toBe(true)
  })

  it('is not pressed twice while a verification is on its way', () => {
    expect(verifyBlocker({ ...gate, holderConfirmed: true, busy: true })).toBe('busy')
  })
})

describe('verifyBody', () => {
  it('sends the version the reveal answered with', () => {
    expect(verifyBody(reveal({ holderNameMatches: true }), false)).toEqual({ version: 12 })
  })

  it('confirms the holder only when needed and given', () => {
    expect(verifyBody(reveal(), true)).toEqual({ version: 12, confirmHolderName: true })
    expect(verifyBody(reveal(), false)).toEqual({ version: 12 })
    expect(verifyBody(reveal({ holderNameMatches: true }), true)).toEqual({ version: 12 })
  })
})

describe('payeeCheckSettled', () => {
  const checkedAt = '2026-03-02T08:00:00.000Z'
  const entry = (action: string, at: string) => ({ action, at })

  it('settles the payee pre-checks once the district verified the account after them', () => {
    const trail = [entry('request_bank_account_change', '2026-03-02T07:00:00Z'), entry('verify_bank_account', '2026-03-02T09:00:00Z')]
    expect(payeeCheckSettled('payee_changed_since_submission', checkedAt, trail)).toBe(true)
    expect(payeeCheckSettled('payee_holder_differs', checkedAt, trail)).toBe(true)
  })

  it('does not settle them on a view alone, nor on a verification before the check', () => {
    expect(payeeCheckSettled('payee_holder_differs', checkedAt, [entry('reveal_bank_account', '2026-03-02T09:00:00Z')])).toBe(false)
    expect(payeeCheckSettled('payee_holder_differs', checkedAt, [entry('verify_bank_account', '2026-03-02T07:59:59Z')])).toBe(false)
  })

  it('leaves every other pre-check alone', () => {
    expect(payeeCheckSettled('area_above_managed', checkedAt, [entry('verify_bank_account', '2026-03-02T09:00:00Z')])).toBe(false)
  })
})
