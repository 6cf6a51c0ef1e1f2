// The stack the console tests run against: `tools/run-demo --until-console` (broker, Graph simulator
// with the MSP's sign-in, coordinator with the console on HTTPS, agents for contoso / fabrikam /
// northwind / tailspin), started once per test file and stopped with `tools/run-demo --stop`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const sourceDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');

/// Starts the stack with the binaries of `buildDir`; its files go to a new directory under
/// `artifactsDir` (kept after the run: logs for a failure). Returns run-demo's console.json plus
/// what the tests need to use connguardctl and the simulator.
export function startStack({ buildDir, artifactsDir }) {
  const runDir = fs.mkdtempSync(path.join(artifactsDir, 'stack-'));
  const log = path.join(artifactsDir, 'run-demo.log');
  const r = spawnSync(path.join(sourceDir, 'tools', 'run-demo'),
    ['--until-console', '--no-build', '--build-dir', buildDir, '--run-dir', runDir, '--step-timeout', '120'],
    { cwd: sourceDir, encoding: 'utf8', timeout: 400_000, env: { ...process.env, TERM: 'dumb' } });
  fs.writeFileSync(log, `${r.stdout ?? ''}\n----- stderr -----\n${r.stderr ?? ''}`);
  if (r.status !== 0) {
    stopStack({ runDir });
    throw new Error(`tools/run-demo --until-console failed (exit ${r.status ?? r.signal}); see ${log}:\n` +
      `${(r.stdout ?? '').split('\n').slice(-15).join('\n')}\n${(r.stderr ?? '').split('\n').slice(-40).join('\n')}`);
  }
  const info = JSON.parse(fs.readFileSync(path.join(runDir, 'console.json'), 'utf8'));
  return { ...info, runDir, secretsDir: path.join(runDir, 'broker', 'secrets') };
}

export function stopStack({ runDir }) {
  if (!runDir || !fs.existsSync(path.join(runDir, 'pids'))) return;
  spawnSync(path.join(sourceDir, 'tools', 'run-demo'), ['--stop', runDir], { cwd: sourceDir, encoding: 'utf8' });
}

/// connguardctl as `user` (alice, bob: approvers) against the stack's broker; returns stdout.
export function ctl(stack, user, args) {
  const r = spawnSync(path.join(stack.binDir, 'connguardctl'), [...args, '--timeout', '60'], {
    encoding: 'utf8',
    env: { ...process.env, CONNGUARD_BROKER: stack.brokerUrl, CONNGUARD_USER: user,
           CONNGUARD_PASSWORD_FILE: path.join(stack.secretsDir, user) },
  });
  if (r.status !== 0) throw new Error(`connguardctl ${args.join(' ')} failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout;
}

/// tools/demo/ctl-json over a connguardctl --json answer.
export function ctlJson(answer, question) {
  const r = spawnSync(path.join(sourceDir, 'tools', 'demo', 'ctl-json'), question, { input: answer, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ctl-json ${question.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

/// The id of the newest task of tenant + kind, once it is in `state` (polls connguardctl: the
/// tasks follow the first reports by a few seconds).
export async function taskId(stack, tenant, kind, state, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const js = ctl(stack, 'alice', ['tasks', '--json']);
    const id = ctlJson(js, ['task', tenant, kind]);
    if (id && ctlJson(js, ['state', id]) === state) return id;
    if (Date.now() > deadline) throw new Error(`no ${kind} task of ${tenant} in ${state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/// A request to the simulator's admin API (/_sim/...); returns the parsed JSON answer.
export async function sim(stack, method, pathAndQuery, body) {
  const rsp = await fetch(stack.simUrl + pathAndQuery, {
    method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await rsp.text();
  if (!rsp.ok) throw new Error(`${method} ${pathAndQuery}: HTTP ${rsp.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}
