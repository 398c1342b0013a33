// The client's validators against the vectors core is tested with
// (core/tests/vectors.rs): the phone must accept exactly what the server does.
import { describe, expect, it } from 'vitest'
import vectors from '../../../core/tests/vectors.json'
import { parseCreditCode } from './creditCode'
import { amountFen, parseArea } from './decimal'
import { maskAccountNumber, maskPhone, parseAccountNumber, parsePhone } from './fields'

describe('shared vectors', () => {
  it('has enough of each kind to mean something', () => {
    for (const kind of ['creditCode', 'area', 'amount', 'phone', 'accountNumber'] as const) {
      expect(vectors[kind].length).toBeGreaterThanOrEqual(5)
    }
  })

  it.each(vectors.creditCode)('credit code %j', (v) => {
    const r = parseCreditCode(v.input)
    if ('ok' in v) {
      expect(r).toEqual({ ok: true, value: v.ok })
    } else {
      expect(r.ok).toBe(false)
      if (r.ok) return
      expect(r.error).toBe(v.error)
      if (r.error === 'wrong_length') expect(r.length).toBe(v.length)
      if (r.error === 'bad_character') expect(r.position).toBe(v.position)
      if (r.error === 'wrong_check_character') expect(r.expected).toBe(v.expected)
    }
  })

  it.each(vectors.area)('area %j', (v) => {
    const r = parseArea(v.input)
    if ('hundredths' in v) expect(r).toEqual({ ok: true, hundredths: v.hundredths })
    else expect(r).toEqual({ ok: false, error: v.error })
  })

  it.each(vectors.amount)('amount %j', (v) => {
    expect(amountFen(v.areaHundredths, v.rateFenPerM2Month, v.months)).toBe(v.fen)
  })

  it.each(vectors.phone)('phone %j', (v) => {
    const r = parsePhone(v.input)
    if ('ok' in v) {
      expect(r).toEqual({ ok: true, value: v.ok })
      expect(maskPhone(v.ok!)).toBe(v.masked)
    } else expect(r).toEqual({ ok: false, error: 'malformed' })
  })

  it.each(vectors.accountNumber)('account number %j', (v) => {
    const r = parseAccountNumber(v.input)
    if ('ok' in v) {
      expect(r).toEqual({ ok: true, value: v.ok })
      expect(maskAccountNumber(v.ok!)).toBe(v.masked)
    } else expect(r).toEqual({ ok: false, error: 'malformed' })
  })
})
