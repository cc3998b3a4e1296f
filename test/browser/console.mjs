// Drives Debian's headless Chromium (playwright-core) through Tongxing's
// officer console as three officers would, runs axe-core on every page it
// opens, and prints what it saw as one JSON object. console_test.go sets
// everything up (server, accounts bound to officers, a certificate) and
// checks the results against the server.
//
// Environment:
//   CHROMIUM, WORK_DIR, SHOTS_DIR, ISSUER, RP, HOME_DIR as for signin.mjs
//   AUDITOR, RA, SYSADMIN  "username:password" of the accounts bound to
//                          officers of each role
//   SERIAL                 the certificate the registration officer revokes
//   DOWNLOAD               where to save the exported evidence bundle
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
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
const log = (...a) => console.error('[console]', ...a)
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

// browser starts Chromium with a fresh profile. bypassCSP lets the test
// inject axe-core into pages whose CSP allows no such script.
async function browser () {
  const profile = fs.mkdtempSync(path.join(work, 'chromium-'))
  return chromium.launchPersistentContext(profile, {
    executablePath: env('CHROMIUM'),
    headless: true,
    locale: 'zh-CN',
    viewport: { width: 1000, height: 680 },
    bypassCSP: true,
    acceptDownloads: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    env: { ...process.env, HOME: env('HOME_DIR') },
  })
}

// audited pages: name -> serious or critical axe violations found there.
const axeResults = {}

// check runs axe-core on the page and saves a screenshot under name.
async function check (page, name) {
  await page.waitForLoadState('load')
  await page.addScriptTag({ content: axeSource })
  const res = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }))
  axeResults[name] = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }))
  if (process.env.SHOTS_DIR) await page.screenshot({ path: path.join(process.env.SHOTS_DIR, `${name}.png`), fullPage: false })
}

// enrolTOTP signs user in with the password at the test portal, turns on
// one-time codes at /me/totp and returns the authenticator.
async function enrolTOTP (page, user, password, shotName) {
  await page.goto(`${rp}/start`)
  await page.getByLabel('用户名').fill(user)
  await page.getByLabel('密码', { exact: true }).fill(password)
  await page.getByRole('button', { name: '登录', exact: true }).click()
  await page.waitForURL((u) => u.href.startsWith(`${rp}/callback`))
  await page.goto(`${issuer}/me/totp`)
  if (shotName) await check(page, shotName)
  const src = await page.locator('#totp-qr').getAttribute('src')
  const png = PNG.sync.read(Buffer.from(src.slice('data:image/png;base64,'.length), 'base64'))
  const key = OTPAuth.URI.parse(jsQR(new Uint8ClampedArray(png.data), png.width, png.height).data)
  await page.getByLabel('当前密码').fill(password)
  await page.getByLabel('动态验证码').fill(key.generate())
  await page.getByRole('button', { name: '启用' }).click()
  await page.locator('#enrol-done').waitFor()
  return key
}

// consoleSignIn signs an officer in to the console (level 3: password and
// a one-time code of the next step, the enrolling one being used up).
async function consoleSignIn (page, user, password, key, shotName) {
  await page.goto(`${issuer}/console/`)
  if (shotName) await check(page, shotName)
  await page.locator('#signin').click()
  await page.waitForURL((u) => u.pathname.startsWith('/login'))
  const name = page.getByLabel('用户名')
  if (await name.count()) {
    await name.fill(user)
    await page.getByLabel('密码', { exact: true }).fill(password)
    await page.getByRole('button', { name: '登录', exact: true }).click()
  }
  const code = page.getByLabel('动态验证码')
  // The password step navigates: wait for the code page before auditing it.
  await code.waitFor()
  await page.waitForLoadState('load')
  if (shotName) await check(page, shotName + '-code')
  await code.fill(key.generate({ timestamp: Date.now() + key.period * 1000 }))
  await page.getByRole('button', { name: '验证' }).click()
  await page.waitForURL((u) => u.pathname.startsWith('/console'))
  await page.locator('#whoami').waitFor()
}

const creds = (k) => env(k).split(':')

async function auditor () {
  const [user, pass] = creds('AUDITOR')
  const ctx = await browser()
  try {
    const page = await ctx.newPage()
    const key = await enrolTOTP(page, user, pass, 'totp-enrol')
    await consoleSignIn(page, user, pass, key, 'console-signin')
    await check(page, 'console-home-auditor')
    const whoami = await page.locator('#whoami').textContent()

    await page.goto(`${issuer}/console/audit`)
    await page.getByLabel('操作', { exact: true }).fill('ca.certificate.issue')
    await page.locator('#search').click()
    await page.locator('#results').waitFor()
    await check(page, 'console-audit-search')
    const rows = await page.locator('#results tbody tr').count()

    await page.locator('#results tbody tr a').first().click()
    await page.locator('#verdict').waitFor()
    // A checkpoint may not cover the newest entry yet: refresh until it does.
    for (let i = 0; i < 20 && !(await page.locator('#verdict.ok').count()); i++) {
      await page.waitForTimeout(500)
      await page.reload()
    }
    await check(page, 'console-audit-entry')
    const verdict = await page.locator('#verdict').textContent()
    const entryURL = page.url()

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#bundle').click()])
    await download.saveAs(env('DOWNLOAD'))

    await page.goto(`${issuer}/console/audit/checkpoints`)
    await check(page, 'console-audit-checkpoints')
    await page.goto(`${issuer}/console/audit/charts`)
    await check(page, 'console-audit-charts')
    const charts = await page.locator('svg.chart').count()

    // The auditor changes nothing: the registration desk is refused.
    const ra = await page.goto(`${issuer}/console/ra`)
    return { whoami, rows, verdict, entryURL, charts, raStatus: ra.status() }
  } finally {
    await ctx.close()
  }
}

async function registrar () {
  const [user, pass] = creds('RA')
  const ctx = await browser()
  try {
    const page = await ctx.newPage()
    const key = await enrolTOTP(page, user, pass)
    await consoleSignIn(page, user, pass, key)
    await check(page, 'console-home-ra')
    await page.goto(`${issuer}/console/ra`)
    await page.getByLabel('序列号').fill(env('SERIAL'))
    await page.locator('#find').click()
    await page.locator('#cert').waitFor()
    await check(page, 'console-ra-certificate')
    await page.getByLabel('撤销原因').selectOption('keyCompromise')
    await page.getByLabel('备注').fill('密钥泄露')
    await page.locator('#revoke').click()
    await page.waitForURL((u) => u.searchParams.get('done') === '1')
    const status = await page.locator('#status').textContent()
    await page.goto(`${issuer}/console/ra/codes`)
    await check(page, 'console-ra-codes')
    await page.goto(`${issuer}/console/ra/recoveries`)
    await check(page, 'console-ra-recoveries')
    // The system administrator proposed a new registration officer (ra-3):
    // an officer of the target role approves it here.
    await page.goto(`${issuer}/console/proposals`)
    await check(page, 'console-proposals')
    await page.getByRole('button', { name: '批准 ra-3' }).click()
    await page.locator('#approver-code').waitFor()
    const approverCode = await page.locator('#approver-code').textContent()
    const pendingAfter = await page.locator('#proposals tbody tr').evaluateAll((rows) => rows.map((r) => r.textContent))
    const audit = await page.goto(`${issuer}/console/audit`)
    return { status, auditStatus: audit.status(), approverCode, pendingAfter }
  } finally {
    await ctx.close()
  }
}

async function sysadmin () {
  const [user, pass] = creds('SYSADMIN')
  const ctx = await browser()
  try {
    const page = await ctx.newPage()
    const key = await enrolTOTP(page, user, pass)
    await consoleSignIn(page, user, pass, key)
    await page.goto(`${issuer}/console/admin/officers`)
    await check(page, 'console-admin-officers')
    // Propose a new registration officer; a registration officer approves.
    await page.getByLabel('类型', { exact: true }).selectOption('add')
    await page.getByLabel('名称', { exact: true }).fill('ra-3')
    await page.getByLabel('角色', { exact: true }).selectOption('ra')
    await page.getByRole('button', { name: '提交（需重新认证）' }).click()
    await page.locator('#claim').waitFor()
    const proposerCode = await page.locator('#claim').textContent()
    await page.goto(`${issuer}/console/proposals`)
    const ownProposals = await page.locator('#proposals tbody tr').evaluateAll((rows) => rows.map((r) => r.textContent))
    await page.goto(`${issuer}/console/admin/users`)
    await check(page, 'console-admin-users')
    const users = await page.locator('#users tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.cells).map((c) => c.textContent.trim())))
    await page.goto(`${issuer}/console/admin/clients`)
    const clients = await page.locator('#clients tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.cells).map((c) => c.textContent.trim())))
    await page.getByLabel('client_id').fill('jiaoyu-portal')
    await page.getByLabel('门户名称').fill('教育门户')
    await page.getByLabel('回调地址（空格分隔）').fill('https://portal.jiaoyu.example/cb')
    await page.getByRole('button', { name: '登记门户' }).click()
    await page.locator('#client-secret').waitFor()
    await check(page, 'console-admin-clients')
    const clientID = await page.locator('#client-id').textContent()
    await page.goto(`${issuer}/console/admin/departments`)
    await check(page, 'console-admin-departments')
    await page.goto(`${issuer}/console/admin/policies`)
    await check(page, 'console-admin-policies')
    const loaded = await page.locator('#loaded').textContent()
    const audit = await page.goto(`${issuer}/console/audit`)
    await check(page, 'console-refused')
    const refusal = await page.locator('[role=alert]').textContent()
    const entry = await page.goto(`${issuer}/console/audit/entries/0`)
    const exp = await page.goto(`${issuer}/console/audit/export`)
    return { users, clients, proposerCode, ownProposals, clientID, loaded, auditStatus: audit.status(), refusal, entryStatus: entry.status(), exportStatus: exp.status() }
  } finally {
    await ctx.close()
  }
}

// The system administrator goes first: the registration officer approves
// their proposal.
const admin = await sysadmin()
const out = { auditor: await auditor(), ra: await registrar(), sysadmin: admin }
out.axe = axeResults
log(JSON.stringify(out))
console.log(JSON.stringify(out))
