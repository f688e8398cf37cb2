/**
 * The directory holding tkvm's package.json, found by walking up from a
 * module, so that it is the same from src/ (ts), dist/src/ (compiled) and
 * dist/tkvm/ (bundled), whatever the current directory.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TkvmError } from './errors.js';

const PACKAGE_NAME = 'tkvm';

export interface PackageInfo {
  root: string;
  version: string;
}

export function findPackage(moduleUrl: string = import.meta.url): PackageInfo {
  let directory = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const version = tkvmVersionIn(join(directory, 'package.json'));
    if (version !== undefined) return { root: directory, version };
    const parent = dirname(directory);
    if (parent === directory) break;
    directory = parent;
  }
  throw new TkvmError('ERR_NO_PACKAGE_JSON', `cannot find the ${PACKAGE_NAME} package.json above ${fileURLToPath(moduleUrl)}`);
}

/** The version in `path` if it is tkvm's package.json, else undefined. */
function tkvmVersionIn(path: string): string | undefined {
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof manifest !== 'object' || manifest === null) return undefined;
  const { name, version } = manifest as { name?: unknown; version?: unknown };
  return name === PACKAGE_NAME && typeof version === 'string' ? version : undefined;
}
