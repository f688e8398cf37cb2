/**
 * The tkvm version, read from package.json. The file is found by walking up
 * from this module, so it works both from src/cli (ts) and from dist/src/cli
 * (compiled) without depending on the current directory.
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TkvmError } from '../util/errors.js';

const PACKAGE_NAME = 'tkvm';

export function readPackageVersion(moduleUrl: string = import.meta.url): string {
  let directory = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const version = versionIn(join(directory, 'package.json'));
    if (version !== undefined) return version;
    const parent = dirname(directory);
    if (parent === directory) break;
    directory = parent;
  }
  throw new TkvmError('ERR_NO_PACKAGE_JSON', `cannot find the ${PACKAGE_NAME} package.json above ${fileURLToPath(moduleUrl)}`);
}

/** The version in `path` if it is tkvm's package.json, else undefined. */
function versionIn(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof manifest !== 'object' || manifest === null) return undefined;
  const { name, version } = manifest as { name?: unknown; version?: unknown };
  return name === PACKAGE_NAME && typeof version === 'string' ? version : undefined;
}
