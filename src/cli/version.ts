/**
 * The tkvm version, read from package.json (found by walking up from this
 * module, see util/package-root.ts).
 */
import { findPackage } from '../util/package-root.js';

export function readPackageVersion(moduleUrl: string = import.meta.url): string {
  return findPackage(moduleUrl).version;
}
