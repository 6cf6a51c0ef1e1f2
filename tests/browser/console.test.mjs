// The console in a real browser (issue 12): Debian's headless Chromium driven by playwright-core
// against the whole stack of `tools/run-demo --until-console` (real broker, Graph simulator with the
// MSP's sign-in, coordinator with the console on HTTPS, agents). Run by run-browser-tests (ctest
// label `browser`); screenshots of every page go to $CONNGUARD_ARTIFACTS_DIR.
//
// The tests share one stack and run in this order (node --test runs a file's tests one by one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, stopStack, taskId, sim, sourceDir } from './lib/stack.mjs';
import { launch, newPerson, signIn, submitSignIn, waitForText, csrfToken, screenshot, artifactsDir,
         sessionCookie } from './lib/console.mjs';

const buildDir = process.env.CONNGUARD_BUILD_DIR || path.join(sourceDir, 'build');
let stack;
let browser;

before(async () => {
  stack = startStack({ buildDir, artifactsDir: artifactsDir() });
  browser = await launch();
}, { timeout: 420_000 });

after(async () => {
  await browser?.close();
  if (stack) stopStack(stack);
});

/// The plan version the page's own approval carries (GET /api/v1/tasks/{id}, as the person).
async function planVersion(page, id) {
  const rsp = await page.request.get(`${stack.consoleUrl}/api/v1/tasks/${encodeURIComponent(id)}`);
  assert.equal(rsp.status(), 200, `GET /api/v1/tasks/${id}: ${rsp.status()}`);
  const body = await rsp.json();
  const task = body.task ?? body;
  const v = Number(task.planVersion ?? task.plan_version);
  assert.ok(Number.isInteger(v) && v > 0, `task ${id} has no plan version: ${JSON.stringify(task)}`);
  return v;
}

/// Opens what a table row links to, as a person does: its link, or the row itself.
async function openRow(row) {
  if (await row.locator('a').count()) await row.locator('a').first().click();
  else await row.click();
}

const hasSession = async (context) =>
  (await context.cookies(stack.consoleUrl)).some((c) => c.name === sessionCookie);

test('a defective id_token (expired, wrong aud, bad signature, replayed nonce) signs nobody in', async () => {
  // A good sign-in first: it gives the simulator a nonce to replay, and shows the check below can pass.
  {
    const { context, page } = await newPerson(browser);
    await signIn(page, stack.consoleUrl, 'vera@msp.example');
    assert.ok(await hasSession(context), 'a good sign-in leaves a session cookie');
    await context.close();
  }
  for (const fault of ['expired', 'wrong_audience', 'bad_signature', 'replay_nonce']) {
    await sim(stack, 'POST', '/_sim/idp/next-id-token', { fault });
    const { context, page } = await newPerson(browser);
    const rsp = await submitSignIn(page, stack.consoleUrl, 'alice@msp.example');
    await screenshot(page, `sign-in-refused-${fault}`);
    assert.ok(rsp.status() >= 400, `${fault}: the callback answered ${rsp.status()}, expected a refusal`);
    assert.equal(await hasSession(context), false, `${fault}: a session cookie was set`);
    assert.equal(await page.locator('main[data-page] [data-field="whoami"]').count(), 0,
      `${fault}: the error page shows a signed-in person`);
    await context.close();
  }
});

test('alice and bob approve fabrikam\'s task in the console; the page follows it live to VERIFIED', async () => {
  const id = await taskId(stack, 'fabrikam', 'EXCLUDE_FROM_CA_POLICY', 'PENDING_APPROVAL');
  const alice = await newPerson(browser);
  await signIn(alice.page, stack.consoleUrl, 'alice@msp.example', '/tenants');
  const page = alice.page;

  // Tenants: fabrikam FAILs.
  await page.locator('main[data-page="tenants"]').waitFor();
  await waitForText(page, 'tr[data-tenant="fabrikam"] [data-field="status"]', 'FAIL');
  // ...and the row names the failing checks: the CA policy and the real sign-ins it breaks.
  const failing = (await page.locator('tr[data-tenant="fabrikam"] [data-field="failing-checks"]').textContent()).split(', ');
  assert.ok(failing.includes('CG-CAP') && failing.includes('CG-SIGNIN'), `fabrikam's failing checks: ${failing}`);
  assert.equal((await page.locator('tr[data-tenant="contoso"] [data-field="failing-checks"]').textContent()).trim(), '');
  await screenshot(page, 'tenants');
  await openRow(page.locator('tr[data-tenant="fabrikam"]'));
  await page.locator('main[data-page="tenant"]').waitFor();
  await page.locator('[data-check]').first().waitFor();
  await screenshot(page, 'tenant-fabrikam');

  // Tasks: the pending task, opened from its row.
  await page.goto(`${stack.consoleUrl}/tasks`);
  const row = page.locator(`tr[data-task-id="${id}"]`);
  await waitForText(page, `tr[data-task-id="${id}"] [data-field="state"]`, 'PENDING_APPROVAL');
  assert.equal((await row.locator('[data-field="tenant"]').first().textContent()).trim(), 'fabrikam');
  await screenshot(page, 'tasks');
  await openRow(row);
  await page.locator('main[data-page="task"]').waitFor();
  await waitForText(page, '[data-field="state"]', 'PENDING_APPROVAL');
  assert.match(await page.locator('[data-field="diff"]').first().textContent(), /excludeUsers/);
  await screenshot(page, 'task-pending');

  // alice approves: one of two approvals (high risk), the task still waits.
  await page.locator('textarea[name="comment"]').fill('console test: ticket 4711');
  await page.locator('button[data-action="approve"]').click();
  const said = page.locator('[data-field="message"]').filter({ hasText: /\S/ }).first();
  await said.waitFor();
  assert.match(await said.textContent(), /^Approved/);
  assert.equal((await page.locator('[data-field="state"]').first().textContent()).trim(), 'PENDING_APPROVAL');

  // From here on alice's page is never reloaded: a marker in the window proves it.
  await page.evaluate(() => { window.__connguardNoReload = true; });

  // The agent is paused while bob approves, so the command waits at the broker and the task stays
  // DISPATCHED until it runs again: the page must show that state, then the result, by itself.
  process.kill(stack.agentPid, 'SIGSTOP');
  let resumed = false;
  try {
    const bob = await newPerson(browser);
    await signIn(bob.page, stack.consoleUrl, 'bob@msp.example', `/tasks/${id}`);
    await bob.page.locator('main[data-page="task"]').waitFor();
    await waitForText(bob.page, '[data-field="state"]', 'PENDING_APPROVAL');
    await bob.page.locator('textarea[name="comment"]').fill('second approval');
    await bob.page.locator('button[data-action="approve"]').click();
    await waitForText(page, '[data-field="state"]', 'DISPATCHED', 30_000);
    await screenshot(page, 'task-dispatched');
    process.kill(stack.agentPid, 'SIGCONT');
    resumed = true;
    await waitForText(page, '[data-field="state"]', ['SUCCEEDED', 'VERIFIED'], 90_000);
    await waitForText(page, '[data-field="state"]', 'VERIFIED', 90_000);
    assert.equal(await page.evaluate(() => window.__connguardNoReload), true, 'the task page was reloaded');
    await screenshot(page, 'task-verified');
    await bob.context.close();
  } finally {
    if (!resumed) process.kill(stack.agentPid, 'SIGCONT');
  }
  assert.deepEqual(alice.dialogs, []);
  await alice.context.close();
});

test('a viewer sees no Approve button and her forged POST gets 403; a POST without the CSRF token gets 403', async () => {
  const id = await taskId(stack, 'northwind', 'REMOVE_PRIVILEGED_ROLE', 'PENDING_APPROVAL');
  const approveUrl = `${stack.consoleUrl}/api/v1/tasks/${encodeURIComponent(id)}/approve`;

  const vera = await newPerson(browser);
  await signIn(vera.page, stack.consoleUrl, 'vera@msp.example', `/tasks/${id}`);
  await vera.page.locator('main[data-page="task"]').waitFor();
  await waitForText(vera.page, '[data-field="state"]', 'PENDING_APPROVAL');
  await vera.page.locator('[data-field="diff"]').first().waitFor();
  assert.equal(await vera.page.locator('button[data-action="approve"]').count(), 0, 'a viewer is offered Approve');
  await screenshot(vera.page, 'task-as-viewer');
  // Her own session cookie and CSRF token, sent by hand: the server refuses her, not the page.
  const forged = await vera.page.request.post(approveUrl, {
    headers: { 'x-csrf-token': await csrfToken(vera.page) },
    data: { planVersion: await planVersion(vera.page, id), comment: 'forged by a viewer' } });
  assert.equal(forged.status(), 403, `vera's forged approval answered ${forged.status()}`);
  await vera.context.close();

  const alice = await newPerson(browser);
  await signIn(alice.page, stack.consoleUrl, 'alice@msp.example', `/tasks/${id}`);
  await waitForText(alice.page, '[data-field="state"]', 'PENDING_APPROVAL');
  const version = await planVersion(alice.page, id);
  const noToken = await alice.page.request.post(approveUrl, { data: { planVersion: version, comment: 'no CSRF token' } });
  assert.equal(noToken.status(), 403, `an approval without the CSRF token answered ${noToken.status()}`);
  // The same request with the token is what the page sends: it is accepted (one of two approvals).
  const withToken = await alice.page.request.post(approveUrl, {
    headers: { 'x-csrf-token': await csrfToken(alice.page) },
    data: { planVersion: version, comment: 'console test: the same request with the token' } });
  assert.equal(withToken.status(), 200, `alice's approval with the token answered ${withToken.status()}: ${await withToken.text()}`);
  await alice.context.close();
});

test('a CA policy named <img src=x onerror=alert(1)> renders as text on the Tenant page', async () => {
  const hostile = '<img src=x onerror=alert(1)>';
  const policy = JSON.parse(fs.readFileSync(path.join(sourceDir, 'tools', 'demo', 'blocking-policy.json'), 'utf8'));
  policy.displayName = hostile;
  await sim(stack, 'POST', '/_sim/tenants/contoso-healthy.onmicrosoft.com/policies', policy);

  const { context, page, dialogs } = await newPerson(browser);
  await signIn(page, stack.consoleUrl, 'alice@msp.example', '/tenants/contoso');
  await page.locator('main[data-page="tenant"]').waitFor();
  // The agents report every 15 s; the page follows the next report.
  const names = () => page.locator('[data-field="policy-name"]').allTextContents();
  const deadline = Date.now() + 90_000;
  while (!(await names()).map((n) => n.trim()).includes(hostile)) {
    assert.ok(Date.now() < deadline, `the policy name never appeared; names shown: ${JSON.stringify(await names())}`);
    await page.waitForTimeout(1000);
  }
  assert.equal(await page.locator('main img').count(), 0, 'the policy name became an <img> element');
  await screenshot(page, 'tenant-contoso-hostile-policy');
  assert.deepEqual(dialogs, [], 'a dialog fired');
  await context.close();
});

test('every other page renders for the person allowed to see it (screenshots)', async () => {
  const { context, page, dialogs } = await newPerson(browser);
  await signIn(page, stack.consoleUrl, 'adam@msp.example', '/alerts');
  await page.locator('main[data-page="alerts"]').waitFor();
  await page.locator('tr[data-alert-cause]').first().waitFor();
  await screenshot(page, 'alerts');
  await page.goto(`${stack.consoleUrl}/audit`);
  await page.locator('main[data-page="audit"]').waitFor();
  await waitForText(page, '[data-field="chain"]', 'verified');
  await screenshot(page, 'audit');
  await page.goto(`${stack.consoleUrl}/subscriptions`);
  await page.locator('main[data-page="subscriptions"]').waitFor();
  await page.locator('form[data-form="webhook"]').waitFor();
  await screenshot(page, 'subscriptions');
  assert.deepEqual(dialogs, []);
  await context.close();
});
