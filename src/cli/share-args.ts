/**
 * `tkvm run --share HOSTDIR[,tag=TAG][,ro]` (docs/cli.md): host directories
 * shared over virtio-9p, parsed into ShareConfig. The directory must exist;
 * the tag defaults to its base name, and the default guest mounts it at
 * /mnt/TAG.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountTagProblem } from '../devices/virtio/9p/device.js';
import type { UsageError } from '../util/errors.js';
import type { ShareConfig } from '../vmm/config.js';
import { quoteForMessage } from './quote.js';

type UsageErrorFactory = (problem: string) => UsageError;

/** The shares for the `--share` values, in order; tags must differ. */
export function parseShares(values: readonly string[], usage: UsageErrorFactory, cwd = process.cwd()): ShareConfig[] {
  const shares = values.map((v) => parseShare(v, usage, cwd));
  const seen = new Set<string>();
  for (const s of shares) {
    if (seen.has(s.tag)) throw usage(`--share tag ${quoteForMessage(s.tag)} is used twice; give each share its own tag=`);
    seen.add(s.tag);
  }
  return shares;
}

/** `HOSTDIR[,tag=TAG][,ro]`; commas in HOSTDIR are not supported (use a symlink). */
export function parseShare(text: string, usage: UsageErrorFactory, cwd = process.cwd()): ShareConfig {
  const [dir, ...options] = text.split(',');
  if (!dir) throw usage(`--share needs a host directory, got ${quoteForMessage(text)}`);
  const hostPath = path.resolve(cwd, dir);
  let tag: string | undefined;
  let readOnly = false;
  for (const option of options) {
    if (option === 'ro') readOnly = true;
    else if (option === 'rw') readOnly = false;
    else if (option.startsWith('tag=')) tag = option.slice(4);
    else throw usage(`--share option ${quoteForMessage(option)} is not one of tag=TAG, ro, rw`);
  }
  tag ??= path.basename(hostPath);
  const problem = mountTagProblem(tag);
  if (problem) throw usage(`--share ${quoteForMessage(text)}: ${problem}${tag === '' ? ' (give tag=TAG)' : ''}`);
  if (tag.includes('/')) throw usage(`--share tag ${quoteForMessage(tag)} must not hold '/' (it names /mnt/TAG in the guest)`);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(hostPath);
  } catch (err) {
    throw usage(`--share ${quoteForMessage(dir)}: ${(err as NodeJS.ErrnoException).code ?? 'cannot stat'}`);
  }
  if (!stat.isDirectory()) throw usage(`--share ${quoteForMessage(dir)} is not a directory`);
  return { hostPath, tag, readOnly };
}
