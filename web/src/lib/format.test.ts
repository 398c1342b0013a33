import { describe, expect, it } from 'vitest'
import { hundredthsToDecimal } from './decimal'
import {
  formatArea,
  formatBytes,
  formatCompact,
  formatDate,
  formatDateTime,
  formatFen,
  formatYuan,
  groupDecimal,
} from './format'

describe('amounts and areas', () => {
  it('formats fen as yuan with separators and two decimals', () => {
    expect(formatFen(0)).toBe('¥0.00')
    expect(formatFen(1)).toBe('¥0.01')
    expect(formatFen(100)).toBe('¥1.00')
    expect(formatFen(5234567)).toBe('¥52,345.67')
    expect(formatFen(22300000000)).toBe('¥223,000,000.00')
    expect(formatFen(-150)).toBe('-¥1.50')
  })

  it('stays exact where a float would not', () => {
    // 0.1 + 0.2 style errors cannot happen: 9007199254740.99 yuan is exact.
    expect(formatFen(900719925474099)).toBe('¥9,007,199,254,740.99')
    expect(hundredthsToDecimal(10)).toBe('0.10')
  })

  it('groups decimal strings from the API', () => {
    expect(formatYuan('52345.67')).toBe('¥52,345.67')
    expect(formatYuan('0.50')).toBe('¥0.50')
    expect(formatArea('1234567.00')).toBe('1,234,567.00 m²')
    expect(groupDecimal('999')).toBe('999')
    expect(groupDecimal('1000')).toBe('1,000')
    expect(groupDecimal('-1000.5')).toBe('-1,000.5')
  })

  it('shortens headline figures to 万 and 亿, rounding half up', () => {
    expect(formatCompact(22300000000, 'zh-CN')).toBe('2.23亿')
    expect(formatCompact(22350000000, 'zh-CN')).toBe('2.24亿') // 2.235 亿 → half up
    expect(formatCompact(1234500, 'zh-CN')).toBe('1.23万')
    expect(formatCompact(999999, 'zh-CN')).toBe('9,999.99')
    expect(formatCompact(22300000000, 'en')).toBe('223.00M')
    expect(formatCompact(123456, 'en')).toBe('1.23K')
    expect(formatCompact(0, 'zh-CN')).toBe('0.00')
  })
})

describe('dates', () => {
  it('shows instants in Shenzhen time', () => {
    expect(formatDateTime('2026-11-27T05:45:00Z')).toBe('2026-11-27 13:45')
    // 17:00 UTC is already the next day in Shenzhen.
    expect(formatDate('2026-11-27T17:00:00Z')).toBe('2026-11-28')
    expect(formatDateTime('2020-02-20T00:00:00+08:00')).toBe('2020-02-20 00:00')
  })

  it('shows a dash for a missing or broken date', () => {
    expect(formatDateTime(null)).toBe('—')
    expect(formatDateTime('')).toBe('—')
    expect(formatDate('not a date')).toBe('—')
  })
})

describe('file sizes', () => {
  it('uses MB and KB', () => {
    expect(formatBytes(10 * 1024 * 1024)).toBe('10 MB')
    expect(formatBytes(11 * 1024 * 1024 + 512 * 1024)).toBe('11.5 MB')
    expect(formatBytes(48213)).toBe('47.1 KB')
    expect(formatBytes(12)).toBe('12 B')
  })
})
