/**
 * scripts/build-passt.sh without the network: a download whose SHA-256
 * does not match is refused (nothing is unpacked, built or published), and
 * a build that is already there is kept and published as `current`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findPackage } from '../util/package-root.js';

const root = findPackage(import.meta.url).root;
const script = path.join(root, 'scripts/build-passt.sh');
const pinned = /^PASST_VERSION='([^']+)'$/m.exec(fs.readFileSync(script, 'utf8'))?.[1];

function run(cache: string, bin: string): { status: number | null; stderr: string } {
  const r = spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cache, PATH: `${bin}:${process.env['PATH']}` } });
  return { status: r.status, stderr: r.stderr };
}

test('build-passt: a download with the wrong SHA-256 is refused from every mirror, and nothing is installed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-build-passt-'));
  try {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const urls = path.join(dir, 'urls');
    // A curl that "downloads" the wrong bytes: `-o FILE URL` are its last two arguments.
    fs.writeFileSync(path.join(bin, 'curl'), `#!/bin/bash\nout=\${@: -2:1}; echo "\${@: -1}" >> ${urls}; echo not-passt > "$out"\n`, { mode: 0o755 });
    const cache = path.join(dir, 'cache');
    const r = run(cache, bin);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /SHA-256 mismatch/);
    assert.match(r.stderr, /FAILED: could not download passt_.*\.orig\.tar\.xz/);
    const tried = fs.readFileSync(urls, 'utf8').trim().split('\n');
    assert.equal(tried.length, 2, 'the pool, then snapshot.debian.org');
    assert.match(tried[0]!, /^https:\/\/deb\.debian\.org\/debian\/pool\/main\/p\/passt\/passt_/);
    assert.match(tried[1]!, /^https:\/\/snapshot\.debian\.org\/file\/[0-9a-f]{40}$/);
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tkvm', 'passt')), [], 'no build directory, no current link');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('build-passt: a build already there is kept, downloads nothing, and becomes current', () => {
  assert.ok(pinned, 'the script pins PASST_VERSION');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-build-passt-'));
  try {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'curl'), '#!/bin/sh\necho curl must not run >&2; exit 1\n', { mode: 0o755 });
    const prefix = path.join(dir, 'cache', 'tkvm', 'passt', pinned);
    fs.mkdirSync(prefix, { recursive: true });
    for (const name of ['passt', 'passt.avx2']) fs.writeFileSync(path.join(prefix, name), '#!/bin/sh\n', { mode: 0o755 });
    const r = run(path.join(dir, 'cache'), bin);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readlinkSync(path.join(dir, 'cache', 'tkvm', 'passt', 'current')), pinned);
    assert.match(r.stderr, /is built/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
