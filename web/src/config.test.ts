import { describe, expect, it } from 'vitest'
import { parseConfig } from './config'

describe('parseConfig', () => {
  it('defaults to the same origin and the demo login', () => {
    expect(parseConfig({})).toEqual({ apiBase: '', auth: { mode: 'dev' } })
    expect(parseConfig({ apiBase: '', auth: { mode: 'dev' } })).toEqual({ apiBase: '', auth: { mode: 'dev' } })
  })

  it('reads an OIDC login and trims the API base', () => {
    expect(
      parseConfig({
        apiBase: 'https://abc.execute-api.cn-north-1.amazonaws.com.cn/',
        auth: { mode: 'oidc', authority: 'https://cognito-idp.cn-north-1.amazonaws.com.cn/pool', clientId: 'web' },
      }),
    ).toEqual({
      apiBase: 'https://abc.execute-api.cn-north-1.amazonaws.com.cn',
      auth: { mode: 'oidc', authority: 'https://cognito-idp.cn-north-1.amazonaws.com.cn/pool', clientId: 'web', scope: undefined, redirectUri: undefined },
    })
  })

  it('refuses a config it cannot use, naming the field', () => {
    expect(() => parseConfig(null)).toThrow(/not an object/)
    expect(() => parseConfig('x')).toThrow(/not an object/)
    expect(() => parseConfig({ apiBase: 42 })).toThrow(/apiBase/)
    expect(() => parseConfig({ auth: { mode: 'oidc', clientId: 'web' } })).toThrow(/auth\.authority/)
    expect(() => parseConfig({ auth: { mode: 'oidc', authority: 'https://idp', clientId: '' } })).toThrow(/auth\.clientId/)
    expect(() => parseConfig({ auth: { mode: 'saml' } })).toThrow(/auth\.mode/)
  })
})
