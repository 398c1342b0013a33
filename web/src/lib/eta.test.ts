// The applicant's ETA reads as one sentence in both languages: the unit's
// figure or the city's, the same day, one day or several, for every step
// the server times; a step the client does not know never shows its code.

import { afterEach, describe, expect, it } from 'vitest'
import { i18n } from '../i18n'
import { ETA_STEPS, etaText, isKnownStep, type EtaLike } from './eta'

/** The steps the Rust side times, read from its source (`Step::as_str`). */
const rustSources = import.meta.glob<string>('../../../core/src/eta.rs', { query: '?raw', import: 'default', eager: true })
function serverSteps(): string[] {
  const steps = new Set<string>()
  for (const text of Object.values(rustSources)) {
    const src = text.split('#[cfg(test)]')[0]
    for (const m of src.matchAll(/Step::\w+ => "([a-z_]+)"/g)) steps.add(m[1])
  }
  return [...steps].sort()
}

const eta = (step: string, workingDays: number, scope = 'unit', samples = 12): EtaLike => ({ step, workingDays, scope, samples })

afterEach(() => {
  i18n.global.locale.value = 'zh-CN'
})

describe('the ETA line', () => {
  it('gives the unit’s figure in working days', () => {
    expect(etaText(eta('community', 2))).toBe('社区初审通常需要 2 个工作日')
    expect(etaText(eta('community', 1))).toBe('社区初审通常需要 1 个工作日')
    expect(etaText(eta('district', 12))).toBe('区级审核通常需要 12 个工作日')
  })

  it('says when the figure is the city’s', () => {
    expect(etaText(eta('community', 2, 'city', 10))).toBe('全市社区初审通常需要 2 个工作日')
    expect(etaText(eta('subdistrict', 0, 'city'))).toBe('全市街道复核通常当天办结')
  })

  it('says 当天办结 for a step usually done the day it began', () => {
    expect(etaText(eta('community', 0))).toBe('社区初审通常当天办结')
  })

  it('names each step', () => {
    expect(ETA_STEPS.map((s) => etaText(eta(s, 3)))).toEqual([
      '项目面积确认通常需要 3 个工作日',
      '社区初审通常需要 3 个工作日',
      '街道复核通常需要 3 个工作日',
      '区级审核通常需要 3 个工作日',
      '区财政拨付通常需要 3 个工作日',
    ])
  })

  it('reads in English, one day and several, the unit’s and the city’s', () => {
    i18n.global.locale.value = 'en'
    expect(etaText(eta('community', 2))).toBe('Community first review (初审) usually takes 2 working days')
    expect(etaText(eta('community', 1))).toBe('Community first review (初审) usually takes 1 working day')
    expect(etaText(eta('community', 0))).toBe('Community first review (初审) is usually done the same day')
    expect(etaText(eta('community', 2, 'city'))).toBe('Across the city, community first review (初审) usually takes 2 working days')
    expect(etaText(eta('finance', 0, 'city'))).toBe('Across the city, payment by district finance is usually done the same day')
    expect(ETA_STEPS.map((s) => etaText(eta(s, 4)))).toEqual([
      'Project area confirmation usually takes 4 working days',
      'Community first review (初审) usually takes 4 working days',
      'Subdistrict re-review (复核) usually takes 4 working days',
      'District audit (审核) usually takes 4 working days',
      'Payment by district finance usually takes 4 working days',
    ])
  })

  it('words a step it does not know generically, never by its code', () => {
    const line = etaText(eta('city_spot_check', 3))
    expect(line).toBe('该环节通常需要 3 个工作日')
    expect(etaText(eta('city_spot_check', 0, 'city'))).toBe('全市该环节通常当天办结')
    i18n.global.locale.value = 'en'
    expect(etaText(eta('city_spot_check', 3))).toBe('This step usually takes 3 working days')
    expect(etaText(eta('city_spot_check', 3, 'city'))).not.toMatch(/city_spot_check/)
  })

  it('shows nothing without a figure, or with one that is not a whole number of days', () => {
    expect(etaText(undefined)).toBeNull()
    expect(etaText(null)).toBeNull()
    expect(etaText(eta('community', -1))).toBeNull()
    expect(etaText(eta('community', 1.5))).toBeNull()
    expect(etaText({ step: 'community', scope: 'unit', samples: 3 } as unknown as EtaLike)).toBeNull()
  })

  it('words every step the server times', () => {
    const steps = serverSteps()
    // The scan found the steps (a change of style in the Rust source must not
    // make this test pass vacuously).
    expect(steps).toContain('area_confirmation')
    expect(steps.length).toBeGreaterThanOrEqual(5)
    expect(steps.filter((s) => !isKnownStep(s))).toEqual([])
    expect([...ETA_STEPS].sort()).toEqual(steps)
  })
})
