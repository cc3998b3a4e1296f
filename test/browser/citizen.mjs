// A citizen signs in to the portal (/me) by scanning (扫码登录) in
// headless Chromium: the test plays the card holder's device with
// `tongxing login --qr URL`, the URL read from the page's QR code with
// jsQR. Then the citizen looks at their pages, the access ledger among
// them. axe-core runs on every page. citizen_test.go sets everything up
// and checks the printed JSON.
//
// Environment: CHROMIUM, WORK_DIR, SHOTS_DIR, ISSUER, HOME_DIR as for
// signin.mjs; TONGXING the binary, TONGXING_DIR its working directory,
// CARD_CERT and CARD_KEY the citizen card's certificate and key,
// FILING a signed filing (.p7s, attached) to have verified.
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { PNG } from 'pngjs'
import jsQR from 'jsqr'
import { chromium } from 'playwright-core'

const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`${k} is not set`)
  return v
}
const issuer = env('ISSUER')
const log = (...a) => console.error('[citizen]', ...a)
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const axeResults = {}

// check runs axe-core on the page and keeps its serious findings under
// name. The scan-to-sign-in page reloads itself every two seconds, so on
// a busy machine a reload can land while axe runs: the check then starts
// again on the reloaded page, a few times at most.
async function check (page, name) {
  for (let attempt = 1; ; attempt++) {
    await page.waitForLoadState('load')
    try {
      await page.addScriptTag({ content: axeSource })
      const res = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }))
      axeResults[name] = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }))
      if (process.env.SHOTS_DIR) await page.screenshot({ path: path.join(process.env.SHOTS_DIR, `${name}.png`) })
      return
    } catch (e) {
      if (attempt >= 5 || !/Execution context was destroyed|navigat/i.test(e.message)) throw e
      log(`${name}: the page navigated during the check (${attempt}), checking again`)
    }
  }
}

const profile = fs.mkdtempSync(path.join(env('WORK_DIR'), 'chromium-'))
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: env('CHROMIUM'),
  headless: true,
  locale: 'zh-CN',
  viewport: { width: 1000, height: 680 },
  bypassCSP: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  env: { ...process.env, HOME: env('HOME_DIR') },
})
const out = {}
try {
  const page = await ctx.newPage()
  await page.goto(`${issuer}/me/`)
  await page.waitForURL((u) => u.pathname === '/login')
  await check(page, 'login-page')
  await page.locator('#qr-login').click()
  await page.waitForURL((u) => u.pathname === '/login/qr')
  await check(page, 'scan-to-sign-in')
  // The device reads the QR code from the screen.
  const src = await page.locator('#qr-code').getAttribute('src')
  const png = PNG.sync.read(Buffer.from(src.slice('data:image/png;base64,'.length), 'base64'))
  const qr = jsQR(new Uint8ClampedArray(png.data), png.width, png.height)
  if (!qr) throw new Error('jsQR found no QR code')
  out.qrURL = qr.data
  out.shownURL = await page.locator('#qr-url').inputValue()
  try {
    out.helper = execFileSync(env('TONGXING'), ['login', '--qr', qr.data, '--cert', env('CARD_CERT'), '--key', env('CARD_KEY'),
      '--cacert', path.join('tongxing-data', 'pki', 'intl-root.crt')], { cwd: env('TONGXING_DIR'), env: { ...process.env, TONGXING_KEY_PASSPHRASE: '' } }).toString()
  } catch (e) {
    throw new Error(`tongxing login --qr: ${e.stdout}${e.stderr}`)
  }
  // The page refreshes itself and completes the sign-in.
  await page.waitForURL((u) => u.pathname === '/me/', { timeout: 30000 })
  out.acr = await page.locator('#acr').textContent()
  await check(page, 'me-profile')

  await page.goto(`${issuer}/me/access`)
  await check(page, 'me-access')
  out.access = await page.locator('#access tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.cells).map((c) => c.textContent)))

  await page.goto(`${issuer}/me/certificates`)
  await check(page, 'me-certificates')
  out.certs = await page.locator('#certs tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.cells).map((c) => c.textContent)))

  await page.goto(`${issuer}/me/filing`)
  await page.getByLabel('签名文件（.p7s）').setInputFiles(env('FILING'))
  await page.getByRole('button', { name: '验证', exact: true }).click()
  await page.locator('#verdict').waitFor()
  await check(page, 'me-filing-report')
  out.filing = await page.locator('#verdict').textContent()
  out.filingChecks = await page.locator('#checks tbody tr').count()

  await page.goto(`${issuer}/me/sessions`)
  await check(page, 'me-sessions')
  out.sessions = await page.locator('#sessions tbody tr').count()
  // Ending the current session signs the portal out: /me asks to sign in.
  await page.locator('#sessions tbody tr').first().getByRole('button').click()
  await page.waitForURL((u) => u.pathname === '/login')
  out.afterEnd = new URL(page.url()).pathname
} finally {
  await ctx.close()
}
out.axe = axeResults
log(JSON.stringify(out))
console.log(JSON.stringify(out))
