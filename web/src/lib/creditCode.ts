// The unified social credit code (统一社会信用代码, GB 32100-2015), checked as
// core checks it (core/src/credit_code.rs); both pass core/tests/vectors.json.

const ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY'
const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

export type CreditCodeResult =
  | { ok: true; value: string }
  | { ok: false; error: 'wrong_length'; length: number }
  | { ok: false; error: 'bad_character'; position: number; found: string }
  | { ok: false; error: 'wrong_check_character'; expected: string; found: string }

/** Surrounding spaces are ignored and lower case accepted; the value is upper case. */
export function parseCreditCode(input: string): CreditCodeResult {
  const chars = Array.from(input.trim().toUpperCase())
  if (chars.length !== 18) return { ok: false, error: 'wrong_length', length: chars.length }
  const values: number[] = []
  for (const [i, c] of chars.entries()) {
    const v = ALPHABET.indexOf(c)
    if (c.length !== 1 || v < 0) return { ok: false, error: 'bad_character', position: i + 1, found: c }
    values.push(v)
  }
  const sum = WEIGHTS.reduce((acc, w, i) => acc + w * values[i], 0)
  const expected = ALPHABET[(31 - (sum % 31)) % 31]
  const found = chars[17]
  if (found !== expected) return { ok: false, error: 'wrong_check_character', expected, found }
  return { ok: true, value: chars.join('') }
}
