// Areas and amounts, exact: areas in hundredths of a m², amounts in fen.
// The same rules as core/src/money.rs and Policy::amount; both pass
// core/tests/vectors.json. BigInt inside, so nothing is ever a float.

/** The largest area core accepts, in m². */
export const MAX_AREA_M2 = 1_000_000_000n

export type AreaError = 'not_positive' | 'too_large' | 'too_many_decimals' | 'not_a_number'
export type AreaResult = { ok: true; hundredths: number } | { ok: false; error: AreaError }

const DIGITS = /^[0-9]*$/

function parseHundredths(s: string, max: bigint): { ok: true; value: bigint } | { ok: false; error: AreaError } {
  const dot = s.indexOf('.')
  const int = dot < 0 ? s : s.slice(0, dot)
  const frac = dot < 0 ? '' : s.slice(dot + 1)
  if (int === '' || !DIGITS.test(int) || !DIGITS.test(frac) || (dot >= 0 && frac === '')) {
    return { ok: false, error: 'not_a_number' }
  }
  if (frac.length > 2) return { ok: false, error: 'too_many_decimals' }
  const whole = int.replace(/^0+/, '')
  if (whole.length > 17) return { ok: false, error: 'too_large' }
  const cents = frac === '' ? 0n : BigInt(frac.length === 1 ? frac + '0' : frac)
  const total = BigInt(whole === '' ? '0' : whole) * 100n + cents
  if (total > max) return { ok: false, error: 'too_large' }
  return { ok: true, value: total }
}

/** Parses square metres with at most two decimals ("52345.67"). */
export function parseArea(input: string): AreaResult {
  const s = input.trim()
  const max = MAX_AREA_M2 * 100n
  if (s.startsWith('-')) {
    const rest = parseHundredths(s.slice(1), max)
    return rest.ok || rest.error === 'too_large' ? { ok: false, error: 'not_positive' } : rest
  }
  const r = parseHundredths(s, max)
  if (!r.ok) return r
  if (r.value <= 0n) return { ok: false, error: 'not_positive' }
  return { ok: true, hundredths: Number(r.value) }
}

/** The subsidy for an area: area × rate × months, rounded half up to the fen once. */
export function amountFen(areaHundredths: number, rateFenPerM2Month: number, months: number): number {
  const hundredthsOfFen = BigInt(areaHundredths) * BigInt(rateFenPerM2Month) * BigInt(months)
  return Number((hundredthsOfFen + 50n) / 100n)
}

/** 1234567 → "12345.67" (hundredths, e.g. fen or hundredths of a m², as a plain decimal). */
export function hundredthsToDecimal(v: number): string {
  const neg = v < 0
  const abs = BigInt(Math.abs(v))
  const s = `${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`
  return neg ? `-${s}` : s
}
