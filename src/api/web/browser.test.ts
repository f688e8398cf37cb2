/**
 * tkvm web end to end, in a real browser: Debian's Chromium, driven by
 * playwright-core, loads the page `tkvm web` prints for a running
 * serial-shell test guest, sees the guest's output in the xterm.js
 * terminal, types commands the guest runs, pauses the VM with the button
 * (checked with tkvm list), and keeps a screenshot in
 * test-artifacts/web/. A request without the token gets 401. Needs
 * /dev/kvm (run it under flock /tmp/tkvm-kvm.lock) and /usr/bin/chromium
 * (scripts/test-deps.sh installs it).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { CLI, REPO_ROOT, guestPath, requireKvm, runTkvm } from '../../testing/kvm.js';

/** The little of the DOM the functions run in the page use (tsconfig has no DOM lib). */
interface PageElement {
  textContent: string | null;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageElement>; getElementById(id: string): PageElement | null };

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts/web');

function requireChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  const problem = `${CHROMIUM} is missing (scripts/test-deps.sh installs Debian's chromium)`;
  if (process.env['CI'] === 'true') throw new Error(`the tkvm web browser test cannot run in CI: ${problem}`);
  t.skip(problem);
  return false;
}

/** A child process whose output the test reads as it comes. */
function start(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const io = { child, stdout: '', stderr: '', exit: new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code))) };
  child.stdout.setEncoding('utf8').on('data', (d: string) => void (io.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (io.stderr += d));
  return io;
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The terminal's visible lines, joined with newlines (xterm.js's DOM renderer has one div per row, spaces as NBSP). */
function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => [...document.querySelectorAll('.xterm-rows > div')].map((row) => (row.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()).join('\n'));
}

async function waitForTerminal(page: Page, text: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let shown = '';
  while (Date.now() < end) {
    shown = await terminalText(page);
    if (shown.includes(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the terminal never showed ${JSON.stringify(text)}: it shows ${JSON.stringify(shown.trimEnd())}`);
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

test('in Chromium, the page shows the guest console, runs typed commands in the guest, and pauses the VM', { timeout: 180_000 }, async (t) => {
  if (!requireKvm(t, 'serial-shell') || !requireChromium(t)) return;
  const runtimeDir = mkdtempSync(path.join(tmpdir(), 'tkvm-web-'));
  t.after(() => rmSync(runtimeDir, { recursive: true, force: true }));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  const name = `web-${process.pid}`;

  const vm = start(['run', '--debug-exit', '--kernel', guestPath('serial-shell'), '--mem', '32M', '--name', name], env);
  t.after(() => kill(vm.child));
  await until(() => vm.stdout.includes('tkvm> '), `the guest's prompt (stderr: ${vm.stderr})`);

  const web = start(['web'], env);
  t.after(() => kill(web.child));
  await until(() => /\n/.test(web.stdout), `tkvm web's URL (stderr: ${web.stderr})`);
  const url = web.stdout.trim();
  const parsed = /^http:\/\/127\.0\.0\.1:(\d+)\/([A-Za-z0-9_-]{43})\/$/.exec(url);
  assert.ok(parsed, `tkvm web printed ${JSON.stringify(web.stdout)}`);
  const origin = `http://127.0.0.1:${parsed[1]}`;

  // Without the token: 401, for the page and for the API.
  for (const missing of [`${origin}/`, `${origin}/api/vms`, `${origin}/app.js`]) {
    assert.equal((await fetch(missing)).status, 401, missing);
  }

  const profile = mkdtempSync(path.join(tmpdir(), 'tkvm-web-chromium-'));
  t.after(() => rmSync(profile, { recursive: true, force: true }));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 900 } });
  t.after(() => browser.close());
  const page = browser.pages()[0] ?? (await browser.newPage());
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  page.on('response', (reply) => {
    if (reply.status() >= 400) problems.push(`HTTP ${reply.status()} for ${reply.url()}`);
  });
  page.on('console', (message) => {
    // A CSP violation (an inline script or style the policy blocks) is reported on the console.
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });

  const response = await page.goto(url);
  assert.equal(response?.status(), 200);
  assert.ok(response?.headers()['content-security-policy']?.includes("script-src 'self'"));
  // The VM is listed, selected, and its console shows what the guest printed before the page opened.
  await page.waitForSelector(`tr[data-vm="${name}"]`, { timeout: 15_000 });
  await waitForTerminal(page, 'serial-shell ready\ntkvm>');
  assert.equal(await page.textContent('#vm-name'), name);

  // Typing in the terminal runs commands in the guest.
  await page.click('#terminal');
  await page.keyboard.type('rev tkvm web');
  await page.keyboard.press('Enter');
  await waitForTerminal(page, 'tkvm> rev tkvm web\nbew mvkt\ntkvm>');
  await page.keyboard.type('sum 40 2');
  await page.keyboard.press('Enter');
  await waitForTerminal(page, 'tkvm> sum 40 2\n42\ntkvm>');
  assert.ok(vm.stdout.includes('bew mvkt\n'), 'the terminal of tkvm run shows it too');

  // The charts fill in once two samples exist.
  await page.waitForFunction(() => /\d/.test(document.getElementById('value-exits')?.textContent ?? ''), undefined, { timeout: 15_000 });

  // Pause: the page says so, and so does tkvm's control socket.
  await page.click('#pause');
  await page.waitForFunction(() => document.getElementById('vm-state')?.textContent === 'paused', undefined, { timeout: 15_000 });
  const listed = await runTkvm(['list', '--json'], { env });
  assert.equal(listed.status, 0, listed.stderr);
  assert.equal((JSON.parse(listed.stdout) as Array<{ name: string; state: string }>).find((v) => v.name === name)?.state, 'paused');

  mkdirSync(ARTIFACTS, { recursive: true });
  const screenshot = path.join(ARTIFACTS, 'console.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok(statSync(screenshot).size > 10_000, 'a screenshot with something in it');

  // Resume, and end the guest from the page: the VM exits with the guest's status and the page says the console closed.
  await page.click('#resume');
  await page.waitForFunction(() => document.getElementById('vm-state')?.textContent === 'running', undefined, { timeout: 15_000 });
  await page.click('#terminal');
  await page.keyboard.type('quit');
  await page.keyboard.press('Enter');
  assert.equal(await vm.exit, 33, vm.stderr);
  await waitForTerminal(page, '[console closed]');
  assert.deepEqual(problems, []);

  web.child.kill('SIGTERM');
  assert.equal(await web.exit, 0, web.stderr);
});
