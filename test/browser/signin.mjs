// Drives Debian's headless Chromium with playwright-core through Tongxing's
// sign-in pages, as a citizen would, and prints what the relying party
// showed as one JSON object. browser_test.go sets everything up (server,
// relying party, certificates, NSS databases) and checks the results.
//
// Environment:
//   CHROMIUM   the browser binary (/usr/bin/chromium; never a download)
//   WORK_DIR   a scratch directory (fresh profiles)
//   SHOTS_DIR  optional: where to save screenshots of the pages (their
//              Chinese text needs a CJK font, e.g. fonts-noto-cjk)
//   STEPS      comma-separated steps to run, in order: cert, totp
//   ISSUER     Tongxing's public URL
//   RP         the relying party's base URL (GET /start, /callback)
//   CERT_HOME  a HOME whose NSS database (.pki/nssdb) holds the citizen's
//              login certificate and trusts Tongxing's intl root
//   CA_CN      common name of the CA that issued the login certificate
//   HOME_DIR   a HOME whose NSS database only trusts Tongxing's intl root
//   USERNAME, PASSWORD  the citizen's account (step totp)
import fs from 'node:fs'
import path from 'node:path'
import { PNG } from 'pngjs'
import jsQR from 'jsqr'
import * as OTPAuth from 'otpauth'
import { chromium } from 'playwright-core'

const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`${k} is not set`)
  return v
}
const issuer = env('ISSUER')
const rp = env('RP')
const work = env('WORK_DIR')
const log = (...a) => console.error('[signin]', ...a)

// browser starts Chromium with a fresh profile and HOME (for its NSS
// database). autoSelect, when set, is the issuer CN of the client
// certificate Chromium may present to the issuer's origin without asking:
// the content setting that the AutoSelectCertificateForUrls policy sets,
// written into the fresh profile's preferences instead of a machine-wide
// policy file.
async function browser (home, autoSelect) {
  const profile = fs.mkdtempSync(path.join(work, 'chromium-'))
  if (autoSelect) {
    fs.mkdirSync(path.join(profile, 'Default'))
    const origin = new URL(issuer).origin
    const prefs = {
      profile: {
        content_settings: {
          exceptions: {
            auto_select_certificate: {
              [`${origin},*`]: { setting: { filters: [{ ISSUER: { CN: autoSelect } }] } },
            },
          },
        },
      },
    }
    fs.writeFileSync(path.join(profile, 'Default', 'Preferences'), JSON.stringify(prefs))
  }
  return chromium.launchPersistentContext(profile, {
    executablePath: env('CHROMIUM'),
    headless: true,
    locale: 'zh-CN',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    env: { ...process.env, HOME: home },
  })
}

// claims waits for the relying party's callback page and returns the
// claims it verified.
async function claims (page) {
  await page.waitForURL((u) => u.href.startsWith(`${rp}/callback`), { timeout: 60000 })
  const err = page.locator('#error')
  if (await err.count()) throw new Error(`relying party: ${await err.textContent()}`)
  return JSON.parse(await page.locator('#claims').textContent())
}

async function shot (page, name) {
  if (process.env.SHOTS_DIR) await page.screenshot({ path: path.join(process.env.SHOTS_DIR, `${name}.png`), fullPage: true })
}

const steps = {
  // A citizen signs in at the portal with the login certificate in the
  // browser: the login page's link to /login/mtls, where Chromium presents
  // the certificate in the TLS handshake.
  async cert () {
    const ctx = await browser(env('CERT_HOME'), env('CA_CN'))
    try {
      const page = await ctx.newPage()
      await page.goto(`${rp}/start?acr_values=${encodeURIComponent('urn:tongxing:loa:4')}`)
      if (!page.url().startsWith(`${issuer}/login`)) throw new Error(`not on the login page: ${page.url()}`)
      await shot(page, 'cert-login-page')
      await page.getByRole('link', { name: /浏览器中的证书/ }).click()
      return await claims(page)
    } finally {
      await ctx.close()
    }
  },

  // A citizen signed in with the password turns on one-time codes at
  // /me/totp: the QR code on the page is read back with jsQR (an
  // independent decoder), an authenticator (otpauth) makes the code; then
  // a portal asking for urn:tongxing:loa:3 gets it with password and code.
  async totp () {
    const ctx = await browser(env('HOME_DIR'))
    try {
      const page = await ctx.newPage()
      const signIn = async (query) => {
        await page.goto(`${rp}/start${query}`)
        if (!page.url().startsWith(`${issuer}/login`)) throw new Error(`not on the login page: ${page.url()}`)
        await page.getByLabel('用户名').fill(env('USERNAME'))
        await page.getByLabel('密码', { exact: true }).fill(env('PASSWORD'))
        await page.getByRole('button', { name: '登录', exact: true }).click()
      }
      await signIn('')
      const password = await claims(page)

      await page.goto(`${issuer}/me/totp`)
      await shot(page, 'totp-enrol-page')
      const src = await page.locator('#totp-qr').getAttribute('src')
      const prefix = 'data:image/png;base64,'
      if (!src || !src.startsWith(prefix)) throw new Error(`no inline QR image: ${src}`)
      const png = PNG.sync.read(Buffer.from(src.slice(prefix.length), 'base64'))
      const qr = jsQR(new Uint8ClampedArray(png.data), png.width, png.height)
      if (!qr) throw new Error('jsQR found no QR code in the image')
      const key = OTPAuth.URI.parse(qr.data)
      const shown = (await page.locator('#totp-key').textContent()).replaceAll(' ', '')
      if (key.secret.base32 !== shown) throw new Error('the QR code and the manual key differ')
      await page.getByLabel('当前密码').fill(env('PASSWORD'))
      await page.getByLabel('动态验证码').fill(key.generate())
      await page.getByRole('button', { name: '启用' }).click()
      await page.locator('#enrol-done').waitFor()
      await shot(page, 'totp-enrolled')

      // The code of the next time step: the one that confirmed the
      // enrolment is used up, and the server accepts one step of skew.
      await signIn(`?acr_values=${encodeURIComponent('urn:tongxing:loa:3')}&prompt=login`)
      await page.getByLabel('动态验证码').fill(key.generate({ timestamp: Date.now() + key.period * 1000 }))
      await page.getByRole('button', { name: '验证' }).click()
      const otp = await claims(page)
      return { password, otpauth: { issuer: key.issuer, label: key.label, digits: key.digits, period: key.period, algorithm: key.algorithm }, otp }
    } finally {
      await ctx.close()
    }
  },
}

const out = {}
for (const name of env('STEPS').split(',')) {
  if (!steps[name]) throw new Error(`unknown step ${name}`)
  log('step', name)
  out[name] = await steps[name]()
  log('step', name, 'done', JSON.stringify(out[name]))
}
console.log(JSON.stringify(out))
