// The budget forecast's figures: exact amounts, negative ones too, the
// shortfall of a forecast that would not fit, and bad input (a malformed
// amount, a missing forecast) showing nothing wrong.

import { describe, expect, it } from 'vitest'
import type { ForecastView } from '../api/types'
import en from '../i18n/en'
import zhCN from '../i18n/zh-CN'
import { IN_REVIEW_STATES, fenToYuan, formatSignedYuan, inReviewRows, shortfall, shortfallYuan, yuanToFen } from './forecast'

/** The states ForecastView.inReview requires, read from the API's description. */
const specs = import.meta.glob<string>('../../../docs/openapi.yaml', { query: '?raw', import: 'default', eager: true })
function specStates(): string[] {
  const spec = Object.values(specs)[0] ?? ''
  const view = spec.slice(spec.indexOf('\n    ForecastView:'))
  const m = view.match(/\n {8}inReview:\n(?: {10}.*\n)*? {10}required: \[([^\]]*)\]/)
  return m ? m[1].split(',').map((s) => s.trim()) : []
}

const money = (yuan: string) => ({ yuan, fen: Number(yuanToFen(yuan)) })
const zero = money('0.00')

/** Fukuda's 30 million, seven 5-million claims in review: 5 million short. */
const SHORT: ForecastView = {
  district: '440304',
  allocated: money('30000000.00'),
  approved: money('10000.00'),
  inReview: {
    awaitingAreaConfirmation: zero,
    pendingCommunity: money('35000000.00'),
    pendingSubdistrict: zero,
    pendingDistrict: zero,
    returned: zero,
  },
  inReviewTotal: money('35000000.00'),
  remainingAfterReview: money('-5010000.00'),
  short: true,
  asOf: '2020-03-01T02:00:00Z',
}

describe('yuanToFen / fenToYuan', () => {
  it('read and write exact amounts, negative ones too', () => {
    expect(yuanToFen('0.00')).toBe(0n)
    expect(yuanToFen('0.01')).toBe(1n)
    expect(yuanToFen('30000000.00')).toBe(3_000_000_000n)
    expect(yuanToFen('-5010000.00')).toBe(-501_000_000n)
    // Past what a float holds exactly, still exact.
    expect(yuanToFen('90071992547409.93')).toBe(9_007_199_254_740_993n)
    expect(fenToYuan(9_007_199_254_740_993n)).toBe('90071992547409.93')
    expect(fenToYuan(-501_000_000n)).toBe('-5010000.00')
    expect(fenToYuan(-5n)).toBe('-0.05')
    expect(fenToYuan(0n)).toBe('0.00')
  })

  it('refuse what is not an amount with two decimals', () => {
    for (const bad of ['', '-', '12', '12.5', '12.345', '1,000.00', '¥12.00', ' 12.00', '12.00 ', '+12.00', '--1.00', '1e3', 'NaN', '.50', '-.50', '12.0a']) {
      expect(yuanToFen(bad), bad).toBeNull()
    }
    for (const bad of [null, undefined, 12, 1200n, {}, ['12.00']]) expect(yuanToFen(bad)).toBeNull()
  })
})

describe('formatSignedYuan', () => {
  it('shows amounts as the page does, a minus before the ¥', () => {
    expect(formatSignedYuan('30000000.00')).toBe('¥30,000,000.00')
    expect(formatSignedYuan('-5010000.00')).toBe('-¥5,010,000.00')
    expect(formatSignedYuan('-0.05')).toBe('-¥0.05')
    expect(formatSignedYuan('999.99')).toBe('¥999.99')
    expect(formatSignedYuan('-0.00')).toBe('¥0.00')
  })

  it('shows a dash for what is not an amount', () => {
    expect(formatSignedYuan('abc')).toBe('—')
    expect(formatSignedYuan('-5010000')).toBe('—')
    expect(formatSignedYuan(undefined)).toBe('—')
    expect(formatSignedYuan(-5010000)).toBe('—')
  })
})

describe('shortfallYuan', () => {
  it('is the absolute value of a negative remainder', () => {
    expect(shortfallYuan('-5010000.00')).toBe('5010000.00')
    expect(shortfallYuan('-0.01')).toBe('0.01')
    expect(shortfallYuan('-0005.10')).toBe('5.10')
  })

  it('is null when it fits, or when it is not an amount', () => {
    expect(shortfallYuan('0.00')).toBeNull()
    expect(shortfallYuan('-0.00')).toBeNull()
    expect(shortfallYuan('25000000.00')).toBeNull()
    expect(shortfallYuan('-5010000')).toBeNull()
    expect(shortfallYuan('-5,010,000.00')).toBeNull()
    expect(shortfallYuan(null)).toBeNull()
    expect(shortfallYuan(-5010000)).toBeNull()
  })
})

describe('shortfall', () => {
  it('warns by the shortfall when the claims in review would not fit', () => {
    expect(shortfall(SHORT)).toEqual({ yuan: '5010000.00' })
  })

  it('does not warn when they fit, exactly or with room', () => {
    expect(shortfall({ ...SHORT, remainingAfterReview: money('0.00'), short: false })).toBeNull()
    expect(shortfall({ ...SHORT, remainingAfterReview: money('24990000.00'), short: false })).toBeNull()
  })

  it('warns of nothing without a forecast (the city, a subdistrict, a community)', () => {
    expect(shortfall(null)).toBeNull()
    expect(shortfall(undefined)).toBeNull()
    expect(shortfall({})).toBeNull()
    expect(shortfall('short' as unknown as ForecastView)).toBeNull()
  })

  it('never hides a warning for one odd field', () => {
    // The server says short, but the figure cannot be read: a warning without an amount.
    expect(shortfall({ ...SHORT, remainingAfterReview: { yuan: '-5,010,000.00', fen: -501000000 } })).toEqual({ yuan: null })
    expect(shortfall({ short: true })).toEqual({ yuan: null })
    // A negative remainder warns even if the flag is missing.
    expect(shortfall({ remainingAfterReview: money('-1.00') })).toEqual({ yuan: '1.00' })
  })
})

describe('inReviewRows', () => {
  it('lists the five states in order with their amounts', () => {
    expect(inReviewRows(SHORT)).toEqual([
      { state: 'awaitingAreaConfirmation', yuan: '0.00' },
      { state: 'pendingCommunity', yuan: '35000000.00' },
      { state: 'pendingSubdistrict', yuan: '0.00' },
      { state: 'pendingDistrict', yuan: '0.00' },
      { state: 'returned', yuan: '0.00' },
    ])
  })

  it('reads a missing figure or forecast as null, and ignores states it does not know', () => {
    const odd = { inReview: { pendingCommunity: { yuan: '1.00', fen: 100 }, returned: null, approved: { yuan: '9.00', fen: 900 } } } as unknown as ForecastView
    expect(inReviewRows(odd).map((r) => r.yuan)).toEqual([null, '1.00', null, null, null])
    expect(inReviewRows(null).map((r) => r.yuan)).toEqual([null, null, null, null, null])
    expect(inReviewRows({ inReview: 'x' } as unknown as ForecastView).every((r) => r.yuan === null)).toBe(true)
  })
})

describe('the in-review states', () => {
  it('are the ones the API gives, in the order an application passes them', () => {
    expect(specStates()).toEqual([...IN_REVIEW_STATES])
  })

  it('have words in both languages, the dashboard’s words for those states', () => {
    for (const s of IN_REVIEW_STATES) {
      expect(zhCN.stats.counts[s]).toBeTruthy()
      expect(en.stats.counts[s]).toBeTruthy()
    }
    expect(IN_REVIEW_STATES.map((s) => zhCN.stats.counts[s])).toEqual(['待确认面积', '初审中', '复核中', '审核中', '退回补正'])
  })
})
