// How figures are shown: amounts in yuan and areas in m² with thousands
// separators and exactly two decimals (never through a float), dates in
// Shenzhen's time zone, and big totals in 万 / 亿 for headlines.

import { hundredthsToDecimal } from './decimal'

function group(int: string): string {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** A decimal string ("52345.67") with thousands separators ("52,345.67"). */
export function groupDecimal(decimal: string): string {
  const neg = decimal.startsWith('-')
  const [int, frac] = (neg ? decimal.slice(1) : decimal).split('.')
  return `${neg ? '-' : ''}${group(int)}${frac === undefined ? '' : '.' + frac}`
}

/** 5234567 fen → "¥52,345.67". */
export function formatFen(fen: number): string {
  const s = groupDecimal(hundredthsToDecimal(fen))
  return s.startsWith('-') ? `-¥${s.slice(1)}` : `¥${s}`
}

/** "52345.67" yuan → "¥52,345.67". */
export function formatYuan(yuan: string): string {
  return `¥${groupDecimal(yuan)}`
}

/** "52345.67" m² → "52,345.67 m²". */
export function formatArea(m2: string): string {
  return `${groupDecimal(m2)} m²`
}

/**
 * A headline figure in 万 / 亿 (zh) or K / M / B (en), from an exact
 * integer count of hundredths (fen, or hundredths of a m²), to two decimals,
 * rounded half up: 22300000000 hundredths → "2.23亿" / "223.00M".
 */
export function formatCompact(hundredths: number, locale: string): string {
  const v = BigInt(hundredths)
  const units: [bigint, string][] = locale.startsWith('zh')
    ? [
        [100_000_000n, '亿'],
        [10_000n, '万'],
      ]
    : [
        [1_000_000_000n, 'B'],
        [1_000_000n, 'M'],
        [1_000n, 'K'],
      ]
  for (const [size, name] of units) {
    if (v >= size * 100n) {
      // hundredths / size, to two decimals, half up.
      const scaled = (v * 100n + (size * 100n) / 2n) / (size * 100n)
      return `${groupDecimal(hundredthsToDecimal(Number(scaled)))}${name}`
    }
  }
  return groupDecimal(hundredthsToDecimal(hundredths))
}

const SHENZHEN = 'Asia/Shanghai'

function parts(iso: string): Record<string, string> | null {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return null
  const fmt = new Intl.DateTimeFormat('en-GB', {
    timeZone: SHENZHEN,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  })
  return Object.fromEntries(fmt.formatToParts(d).map((p) => [p.type, p.value]))
}

/** "2026-11-27T05:45:00Z" → "2026-11-27 13:45" (Shenzhen time). */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const p = parts(iso)
  return p ? `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}` : '—'
}

/** "2026-11-27T17:00:00Z" → "2026-11-28" (the day in Shenzhen). */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—'
  const p = parts(iso)
  return p ? `${p.year}-${p.month}-${p.day}` : '—'
}

/** 10485760 → "10 MB"; 48213 → "47.1 KB". */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) {
    const mb = n / (1024 * 1024)
    return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`
  }
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${n} B`
}
