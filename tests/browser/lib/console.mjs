// Driving the console in Debian's headless Chromium through playwright-core (nothing downloaded):
// launch, sign in through the simulator's form, read the DOM hooks the console promises
// (coordinator/console/README.md), save screenshots as test artifacts.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const chromiumPath = process.env.CONNGUARD_CHROMIUM || '/usr/bin/chromium';
export const password = 'connguard-demo';
export const sessionCookie = '__Host-connguard-session';

export async function launch() {
  return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'], headless: true });
}

/// A fresh browser profile (own cookies) that accepts the run's self-signed certificate and records
/// every dialog (alert/confirm/prompt) it sees, so a test can assert that none fired.
export async function newPerson(browser) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const dialogs = [];
  context.on('page', (p) => p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); }));
  const page = await context.newPage();
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  return { context, page, dialogs };
}

/// Opens /auth/sign-in on the console, which sends the browser to the simulator's sign-in form;
/// fills it in as `upn` and submits. Returns the response of the console's /auth/callback.
export async function submitSignIn(page, consoleUrl, upn, returnPath = '/tenants') {
  await page.goto(`${consoleUrl}/auth/sign-in?return=${encodeURIComponent(returnPath)}`);
  await page.locator('input[name="username"]').fill(upn);
  await page.locator('input[name="password"]').fill(password);
  const callback = page.waitForResponse((r) => r.url().startsWith(`${consoleUrl}/auth/callback`));
  await page.locator('button[type="submit"]').click();
  const rsp = await callback;
  await page.waitForLoadState('load');
  return rsp;
}

/// Signs `upn` in and waits for the console page `returnPath` to render its signed-in person.
export async function signIn(page, consoleUrl, upn, returnPath = '/tenants') {
  await submitSignIn(page, consoleUrl, upn, returnPath);
  await page.locator('[data-field="whoami"]').filter({ hasText: upn }).waitFor();
}

/// Waits until `selector`'s trimmed text satisfies `want` (a string or a list of accepted strings);
/// returns the text. The page is not reloaded.
export async function waitForText(page, selector, want, timeout = 30_000) {
  const accepted = Array.isArray(want) ? want : [want];
  await page.waitForFunction(({ selector, accepted }) => {
    const el = document.querySelector(selector);
    return el !== null && accepted.includes(el.textContent.trim());
  }, { selector, accepted }, { timeout, polling: 100 });
  return (await page.locator(selector).first().textContent()).trim();
}

/// The CSRF token the console hands the page (the shell's <meta name="csrf-token">).
export async function csrfToken(page) {
  const token = await page.locator('meta[name="csrf-token"]').getAttribute('content');
  if (!token) throw new Error('the page carries no CSRF token');
  return token;
}

export function artifactsDir() {
  const dir = process.env.CONNGUARD_ARTIFACTS_DIR || path.resolve('test-artifacts', 'browser');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(artifactsDir(), `${name}.png`), fullPage: true });
}
