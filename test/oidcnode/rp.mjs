// A relying party built on the OpenID-certified openid-client package runs
// discovery, authorization code + PKCE (logging in through Tongxing's login
// form), token, userinfo and refresh against Tongxing, and prints what it got
// as JSON. The Go test in this directory starts the server and checks it.
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, USERNAME,
// PASSWORD; NODE_EXTRA_CA_CERTS trusts Tongxing's intl root.
import * as client from 'openid-client'

const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`${k} is not set`)
  return v
}
const redirectURI = env('REDIRECT_URI')

const config = await client.discovery(new URL(env('ISSUER')), env('CLIENT_ID'), undefined,
  client.ClientSecretBasic(env('CLIENT_SECRET')))

const verifier = client.randomPKCECodeVerifier()
const challenge = await client.calculatePKCECodeChallenge(verifier)
const state = client.randomState()
const nonce = client.randomNonce()
const authURL = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectURI,
  scope: 'openid profile email',
  code_challenge: challenge,
  code_challenge_method: 'S256',
  state,
  nonce,
})

// A minimal browser: a cookie jar, manual redirects, and the login form.
const jar = new Map()
const remember = (res) => {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';')
    const i = pair.indexOf('=')
    jar.set(pair.slice(0, i).trim(), pair.slice(i + 1))
  }
}
const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
async function go (url, init = {}) {
  for (let hops = 0; hops < 10; hops++) {
    if (url.startsWith(redirectURI)) return { callback: new URL(url) }
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers || {}), cookie: cookie() } })
    remember(res)
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location'), url).href
      init = {}
      continue
    }
    return { page: await res.text(), url, status: res.status }
  }
  throw new Error('too many redirects')
}

let step = await go(authURL.href)
if (!step.callback) {
  const form = step.page.match(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/)
  if (!form) throw new Error(`no login form (HTTP ${step.status}): ${step.page.slice(0, 300)}`)
  const fields = new URLSearchParams()
  for (const m of form[2].matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = m[0].match(/name="([^"]*)"/)[1]
    const value = (m[0].match(/value="([^"]*)"/) || [, ''])[1].replaceAll('&amp;', '&').replaceAll('&#43;', '+').replaceAll('&#34;', '"')
    fields.set(name, value)
  }
  fields.set('username', env('USERNAME'))
  fields.set('password', env('PASSWORD'))
  step = await go(new URL(form[1].replaceAll('&amp;', '&'), step.url).href, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: fields.toString(),
  })
}
if (!step.callback) throw new Error(`login did not return to the portal (HTTP ${step.status}): ${step.page.slice(0, 300)}`)

const tokens = await client.authorizationCodeGrant(config, step.callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
})
const claims = tokens.claims()
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)

console.log(JSON.stringify({
  issuer: config.serverMetadata().issuer,
  sub: claims.sub,
  acr: claims.acr,
  nonce_ok: claims.nonce === nonce,
  userinfo_sub: userinfo.sub,
  name: userinfo.name,
  refreshed: Boolean(refreshed.access_token),
  refresh_rotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
}))
