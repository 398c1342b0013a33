// The applicant's ETA in words: how long the step its application waits at
// usually takes, e.g. 社区初审通常需要 2 个工作日, or 全市… when the
// server fell back to the city's figure (fewer than 10 samples in the
// unit). The server names the step by a code; a step this client does not
// know yet (the server may add one before every client is updated) reads
// as 该环节 / "this step", never as a raw code. A figure that is not a
// whole number of working days reads as nothing.

import type { EtaStep, EtaView } from '../api/types'
import { i18n } from '../i18n'

/** The steps the server times, in the order an application passes them. */
export const ETA_STEPS: readonly EtaStep[] = ['area_confirmation', 'community', 'subdistrict', 'district', 'finance']

export function isKnownStep(step: string): step is EtaStep {
  return (ETA_STEPS as readonly string[]).includes(step)
}

/** The server's figure, with a step it may name that this client does not know. */
export type EtaLike = Omit<EtaView, 'step' | 'scope'> & { step: string; scope: string }

/**
 * The line under the time limit, in the current language; null when there
 * is no figure (or one that makes no sense).
 */
export function etaText(eta: EtaLike | null | undefined): string | null {
  if (!eta) return null
  const days = eta.workingDays
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 0) return null
  const { t } = i18n.global
  const step = t(`eta.steps.${isKnownStep(eta.step) ? eta.step : 'fallback'}`)
  const scope = eta.scope === 'city' ? 'city' : 'unit'
  const form = days === 0 ? 'SameDay' : days === 1 ? 'One' : ''
  return capitalise(t(`eta.${scope}${form}`, { step, days }))
}

/** The first letter in upper case (the English step names are lower case; Chinese is unchanged). */
function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
