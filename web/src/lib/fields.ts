// Phone and bank-account numbers, as core/src/fields.rs parses and masks them.

export type FieldResult = { ok: true; value: string } | { ok: false; error: 'malformed' }

const strip = (s: string) => s.trim().replace(/[ -]/g, '')

/** A mainland mobile number; spaces, dashes and a +86 prefix are accepted. */
export function parsePhone(input: string): FieldResult {
  const compact = strip(input)
  const digits = compact.startsWith('+86') ? compact.slice(3) : compact.startsWith('0086') ? compact.slice(4) : compact
  return /^1[3-9][0-9]{9}$/.test(digits) ? { ok: true, value: digits } : { ok: false, error: 'malformed' }
}

/** "138****8000". */
export function maskPhone(phone: string): string {
  return `${phone.slice(0, 3)}****${phone.slice(7)}`
}

/** 8 to 32 digits; spaces and dashes are dropped. */
export function parseAccountNumber(input: string): FieldResult {
  const digits = strip(input)
  return /^[0-9]{8,32}$/.test(digits) ? { ok: true, value: digits } : { ok: false, error: 'malformed' }
}

/** "****1234": only the last four digits are ever shown. */
export function maskAccountNumber(n: string): string {
  return `****${n.slice(-4)}`
}
