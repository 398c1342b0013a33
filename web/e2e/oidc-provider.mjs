// A mock OpenID provider for the browser tests, with node's http and crypto
// only: discovery, a JWKS with one RSA key, an authorization endpoint that
// signs in whoever the test chose (no login form), a token endpoint that
// holds the client to PKCE (S256) and issues RS256 access and ID tokens,
// and an end-session endpoint (RP-initiated logout). Discovery, the JWKS
// and the token endpoint answer CORS, because oidc-client-ts in the page
// fetches them from another origin.
//
// Like a real provider it keeps a session per browser (a cookie): while
// the browser's session lives, /authorize signs that session's user in
// again without asking, whoever the test chose since; only the
// end-session endpoint ends it.
//
//   const idp = await startProvider({ clientId: 'subsidy-web' })
//   idp.signInAs({ sub: 'u-1', name: '张三', phone_number: '13800138021', phone_number_verified: true })
//   // … the page's sign-in now comes back as u-1
//   const token = idp.mint({ sub: 'u-1' })   // an access token, for calling the API directly
//   idp.offerEndSession(false)               // discovery names no end_session_endpoint (as Cognito's)

import { createServer } from 'node:http'
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'

const b64url = (data) => Buffer.from(data).toString('base64url')
const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Allow-Headers': 'Content-Type, Authorization',
  'Access-Control-Max-Age': '600',
}
/** The claims a user object may carry into the tokens, besides `sub`. */
const USER_CLAIMS = ['name', 'phone_number', 'phone_number_verified', 'credit_code', 'role']
/** The cookie that holds the browser's session at the provider. */
const SESSION_COOKIE = 'mock_idp_session'

/** Signs `claims` as an RS256 JWT with `key`, naming `kid` in the header. */
export function signJwt(claims, key, kid) {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }))
  const body = b64url(JSON.stringify(claims))
  const signature = sign('sha256', Buffer.from(`${head}.${body}`), key)
  return `${head}.${body}.${b64url(signature)}`
}

/** The claims of a JWT, unchecked. */
export function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'))
}

/**
 * Starts the provider on a free loopback port. `clientId` is the one client
 * it knows (and the `aud` of its tokens); tokens last `ttl` seconds.
 */
export async function startProvider({ clientId = 'subsidy-web', ttl = 3600 } = {}) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = `mock-${randomBytes(4).toString('hex')}`
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }
  /** Who the next authorization signs in (chosen by the test). */
  let user = null
  /** Issued codes, each usable once: code → what the authorization request asked. */
  const codes = new Map()
  /** What the provider was asked and how it answered, for the tests to check. */
  const log = []
  /** Live browser sessions: session id → the user signed in. */
  const sessions = new Map()
  /** ID tokens issued: token → its session id, so that an id_token_hint names the session. */
  const idTokens = new Map()
  /** Whether discovery names the end-session endpoint. */
  let endSessionOffered = true
  let url = ''

  const sessionOf = (req) => {
    const m = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`).exec(req.headers.cookie ?? '')
    return m && sessions.has(m[1]) ? m[1] : null
  }

  function userClaims(u) {
    const out = { sub: u.sub }
    for (const k of USER_CLAIMS) if (u[k] !== undefined) out[k] = u[k]
    return out
  }

  /** An access token for `u`; `over` replaces any claim (a wrong `aud`, an old `exp`). */
  function mint(u, over = {}, key = privateKey, keyId = kid) {
    const now = Math.floor(Date.now() / 1000)
    const claims = { iss: url, aud: clientId, client_id: clientId, scope: 'openid profile', iat: now, nbf: now, exp: now + ttl, ...userClaims(u), ...over }
    return signJwt(claims, key, keyId)
  }

  function json(res, status, body, extra = {}) {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...CORS, ...extra })
    res.end(JSON.stringify(body))
  }
  function text(res, status, body) {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
    res.end(body)
  }

  function authorize(req, res, q) {
    const live = sessionOf(req)
    const asked = {
      endpoint: 'authorize',
      clientId: q.get('client_id'),
      redirectUri: q.get('redirect_uri'),
      responseType: q.get('response_type'),
      scope: q.get('scope'),
      state: q.get('state'),
      nonce: q.get('nonce'),
      codeChallenge: q.get('code_challenge'),
      codeChallengeMethod: q.get('code_challenge_method'),
      // A live session signs its user in again without asking.
      session: live ? 'reused' : 'new',
      sub: (live ? sessions.get(live) : user)?.sub ?? null,
    }
    log.push(asked)
    const problem =
      asked.clientId !== clientId
        ? `unknown client_id ${asked.clientId}`
        : asked.responseType !== 'code'
          ? 'response_type must be code'
          : !asked.redirectUri
            ? 'redirect_uri is required'
            : !(asked.scope ?? '').split(' ').includes('openid')
              ? 'scope must include openid'
              : asked.codeChallengeMethod !== 'S256' || !asked.codeChallenge
                ? 'PKCE with S256 is required'
                : !asked.state
                  ? 'state is required'
                  : !live && !user
                    ? 'no user chosen: call signInAs first'
                    : null
    if (problem) return text(res, 400, problem)
    const sid = live ?? b64url(randomBytes(16))
    if (!live) sessions.set(sid, user)
    const code = b64url(randomBytes(24))
    codes.set(code, { ...asked, user: sessions.get(sid), sid })
    const back = new URL(asked.redirectUri)
    back.searchParams.set('code', code)
    back.searchParams.set('state', asked.state)
    res.writeHead(302, {
      Location: back.toString(),
      'Cache-Control': 'no-store',
      'Set-Cookie': `${SESSION_COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`,
    })
    res.end()
  }

  /**
   * RP-initiated logout: ends the session the `id_token_hint` names (or
   * the browser's), then sends the browser back to
   * `post_logout_redirect_uri` (with `state`, if any), which must be the
   * client's: its origin with the path `/`.
   */
  function endSession(req, res, q) {
    const hint = q.get('id_token_hint')
    const back = q.get('post_logout_redirect_uri')
    const entry = {
      endpoint: 'end_session',
      idTokenHint: hint,
      clientId: q.get('client_id'),
      postLogoutRedirectUri: back,
      state: q.get('state'),
      sub: hint ? claimsOf(hint).sub : null,
      ended: null,
    }
    log.push(entry)
    const sid = (hint && idTokens.get(hint)) ?? sessionOf(req)
    if (hint && !idTokens.has(hint)) return text(res, 400, 'unknown id_token_hint')
    if (sid) sessions.delete(sid)
    entry.ended = sid ? 'ended' : 'none'
    const expire = `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`
    if (!back) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Set-Cookie': expire })
      return res.end('signed out')
    }
    let target
    try {
      target = new URL(back)
    } catch {
      return text(res, 400, 'bad post_logout_redirect_uri')
    }
    if (target.pathname !== '/' || target.search || target.hash) return text(res, 400, `unregistered post_logout_redirect_uri ${back}`)
    if (entry.state) target.searchParams.set('state', entry.state)
    res.writeHead(302, { Location: target.toString(), 'Cache-Control': 'no-store', 'Set-Cookie': expire })
    res.end()
  }

  function token(res, form) {
    const entry = { endpoint: 'token', grantType: form.get('grant_type'), clientId: form.get('client_id'), pkce: null, error: null }
    log.push(entry)
    const refuse = (error, description) => {
      entry.error = error
      json(res, 400, { error, error_description: description })
    }
    if (entry.grantType !== 'authorization_code') return refuse('unsupported_grant_type', 'only authorization_code')
    const code = form.get('code') ?? ''
    const granted = codes.get(code)
    codes.delete(code)
    if (!granted) return refuse('invalid_grant', 'unknown or used code')
    if (entry.clientId !== clientId || entry.clientId !== granted.clientId) return refuse('invalid_client', 'client_id does not match')
    if (form.get('redirect_uri') !== granted.redirectUri) return refuse('invalid_grant', 'redirect_uri does not match')
    const verifier = form.get('code_verifier') ?? ''
    const challenge = b64url(createHash('sha256').update(verifier).digest())
    if (!verifier || challenge !== granted.codeChallenge) {
      entry.pkce = 'failed'
      return refuse('invalid_grant', 'code_verifier does not match the code_challenge')
    }
    entry.pkce = 'verified'
    entry.sub = granted.user.sub
    const now = Math.floor(Date.now() / 1000)
    const idClaims = { iss: url, aud: clientId, iat: now, nbf: now, exp: now + ttl, auth_time: now, ...userClaims(granted.user) }
    if (granted.nonce) idClaims.nonce = granted.nonce
    const access = mint(granted.user)
    const id = signJwt(idClaims, privateKey, kid)
    idTokens.set(id, granted.sid)
    entry.accessToken = access
    entry.idToken = id
    json(res, 200, {
      access_token: access,
      id_token: id,
      token_type: 'Bearer',
      expires_in: ttl,
      scope: granted.scope,
    })
  }

  const server = createServer((req, res) => {
    const u = new URL(req.url, url)
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS)
      return res.end()
    }
    if (req.method === 'GET' && u.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer: url,
        authorization_endpoint: `${url}/authorize`,
        token_endpoint: `${url}/token`,
        jwks_uri: `${url}/jwks`,
        ...(endSessionOffered ? { end_session_endpoint: `${url}/logout` } : {}),
        response_types_supported: ['code'],
        response_modes_supported: ['query'],
        grant_types_supported: ['authorization_code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['none'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'profile', 'phone'],
        claims_supported: ['sub', 'name', 'phone_number', 'phone_number_verified'],
      })
    }
    if (req.method === 'GET' && u.pathname === '/jwks') return json(res, 200, { keys: [jwk] })
    if (req.method === 'GET' && u.pathname === '/authorize') return authorize(req, res, u.searchParams)
    if (req.method === 'GET' && u.pathname === '/logout') return endSession(req, res, u.searchParams)
    if (req.method === 'POST' && u.pathname === '/token') {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (d) => (body += d))
      req.on('end', () => token(res, new URLSearchParams(body)))
      return
    }
    json(res, 404, { error: 'not_found' })
  })
  await new Promise((ok, fail) => {
    server.once('error', fail)
    server.listen(0, '127.0.0.1', ok)
  })
  url = `http://127.0.0.1:${server.address().port}`

  return {
    url,
    clientId,
    log,
    /**
     * The user the next authorization signs in, unless the browser still
     * has a session here: `{ sub, name?, phone_number?, phone_number_verified?, role? }`.
     */
    signInAs(u) {
      user = u
    },
    /** Whether discovery names the end-session endpoint (true at start); a page loaded afterwards sees the change. */
    offerEndSession(on) {
      endSessionOffered = on
    },
    /** How many browser sessions are live. */
    liveSessions: () => sessions.size,
    mint,
    /** A key the provider does not publish, to sign tokens the server must refuse. */
    foreignKey: () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    async stop() {
      server.closeAllConnections?.()
      await new Promise((r) => server.close(r))
    },
  }
}
