/**
 * `tkvm run` on a missing or truncated kernel, a few hundred times: every
 * run must end with the one-line error, never with a native abort (two
 * threads loading koffi at once used to abort 2-4% of runs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const mainScript = fileURLToPath(new URL('../../tkvm/main.js', import.meta.url));

function runOnce(kernel: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mainScript, 'run', '--kernel', kernel], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('bad kernel files: 200 runs, each a one-line error and exit status 1, no native abort', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-bad-'));
  const truncated = path.join(dir, 'trunc.elf');
  fs.writeFileSync(truncated, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]));
  try {
    const failures: string[] = [];
    for (let batch = 0; batch < 25; batch++) {
      const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => runOnce(i % 2 ? truncated : path.join(dir, 'missing'))));
      for (const r of runs) if (r.code !== 1 || r.stderr.trim().split('\n').length !== 1) failures.push(`${r.code}: ${r.stderr.slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
