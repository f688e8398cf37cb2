import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { UsageError } from '../util/errors.js';
import { parseShare, parseShares } from './share-args.js';

const usage = (problem: string): UsageError => new UsageError(problem);

function tempDirs(): { base: string; cleanup: () => void } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-share-args-'));
  fs.mkdirSync(path.join(base, 'src'));
  fs.mkdirSync(path.join(base, 'data'));
  fs.writeFileSync(path.join(base, 'file'), '');
  return { base, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

test('--share HOSTDIR[,tag=TAG][,ro]: absolute path, tag from the base name by default', () => {
  const { base, cleanup } = tempDirs();
  try {
    assert.deepEqual(parseShare('src', usage, base), { hostPath: path.join(base, 'src'), tag: 'src', readOnly: false });
    assert.deepEqual(parseShare(`${base}/data,tag=d,ro`, usage), { hostPath: path.join(base, 'data'), tag: 'd', readOnly: true });
    assert.deepEqual(parseShare('.,tag=here', usage, path.join(base, 'src')), { hostPath: path.join(base, 'src'), tag: 'here', readOnly: false });
    assert.equal(parseShares(['src', 'data,ro'], usage, base).length, 2);
  } finally {
    cleanup();
  }
});

test('bad --share values are usage errors naming the problem', () => {
  const { base, cleanup } = tempDirs();
  try {
    const cases: [string[], RegExp][] = [
      [[''], /needs a host directory/],
      [['missing'], /ENOENT/],
      [['file'], /not a directory/],
      [['src,tag='], /mount tag is empty/],
      [['src,tag=a b'], /whitespace/],
      [['src,tag=a/b'], /must not hold '\/'/],
      [['src,size=3'], /not one of tag=TAG, ro, rw/],
      [['src', 'data,tag=src'], /used twice/],
      [['/'], /give tag=TAG/],
    ];
    for (const [values, message] of cases) {
      assert.throws(() => parseShares(values, usage, base), (err: unknown) => err instanceof UsageError && message.test(err.message), values.join(' '));
    }
  } finally {
    cleanup();
  }
});

test('tkvm run --share with a missing directory: one line on stderr, exit 2', () => {
  const main = new URL('../../tkvm/main.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [main, 'run', '--share', '/nonexistent-tkvm-share-dir'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--share .*ENOENT/);
});
