// Run-time configuration, read once at start from `config.json` beside
// index.html, so one build serves any deployment: the standalone server
// ships the default (same origin, demo login); a cloud deployment replaces
// the file with its API URL and its OIDC provider. VITE_API_BASE at build
// time overrides `apiBase`.

export interface OidcConfig {
  mode: 'oidc'
  /** The OIDC issuer, e.g. a Cognito user pool's https://cognito-idp.<region>.amazonaws.com/<pool id>. */
  authority: string
  clientId: string
  /** Defaults to "openid profile". */
  scope?: string
  /** Where the provider sends the user back; defaults to this page's origin + path. */
  redirectUri?: string
}
export interface DevConfig {
  mode: 'dev'
}
export interface AppConfig {
  /** The API's origin (and path prefix, if any), without /api/v1; "" for same origin. */
  apiBase: string
  auth: DevConfig | OidcConfig
}

const DEFAULTS: AppConfig = { apiBase: '', auth: { mode: 'dev' } }

export const config: AppConfig = { ...DEFAULTS }

/** Validates a parsed config.json; throws with a message naming the bad field. */
export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== 'object' || raw === null) throw new Error('config.json: not an object')
  const r = raw as Record<string, unknown>
  const apiBase = r.apiBase ?? ''
  if (typeof apiBase !== 'string') throw new Error('config.json: apiBase must be a string')
  const auth = (r.auth ?? { mode: 'dev' }) as Record<string, unknown>
  if (auth.mode === 'dev') return { apiBase: apiBase.replace(/\/+$/, ''), auth: { mode: 'dev' } }
  if (auth.mode === 'oidc') {
    for (const k of ['authority', 'clientId']) {
      if (typeof auth[k] !== 'string' || auth[k] === '') throw new Error(`config.json: auth.${k} is required for oidc`)
    }
    return {
      apiBase: apiBase.replace(/\/+$/, ''),
      auth: {
        mode: 'oidc',
        authority: auth.authority as string,
        clientId: auth.clientId as string,
        scope: typeof auth.scope === 'string' ? auth.scope : undefined,
        redirectUri: typeof auth.redirectUri === 'string' ? auth.redirectUri : undefined,
      },
    }
  }
  throw new Error('config.json: auth.mode must be "dev" or "oidc"')
}

export async function loadConfig(): Promise<void> {
  const res = await fetch('./config.json', { cache: 'no-cache' })
  const parsed = res.ok ? parseConfig(await res.json()) : DEFAULTS
  Object.assign(config, parsed)
  const buildBase = import.meta.env.VITE_API_BASE
  if (buildBase) config.apiBase = buildBase.replace(/\/+$/, '')
}
