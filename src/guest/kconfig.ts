/**
 * Kconfig fragments and the check that a built kernel honours one.
 *
 * scripts/kconfig/merge_config.sh followed by `make olddefconfig` silently
 * drops a requested symbol whose dependencies are unmet, so after
 * configuring, every line of the fragment is compared with the final
 * .config (Documentation/kbuild/kconfig.rst: `CONFIG_X=value`, and
 * `# CONFIG_X is not set` for a bool or tristate that is off).
 */

import { TkvmError } from '../util/errors.js';

/** One line of a fragment: `symbol` must end up `value`; null means unset or n. */
export interface KconfigRequirement {
  symbol: string;
  value: string | null;
}

/** A requirement that the final .config does not meet. */
export interface UnmetRequirement extends KconfigRequirement {
  /** The value in .config; null when the symbol is absent or not set. */
  actual: string | null;
}

const ASSIGNMENT = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const NOT_SET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

/**
 * The requirements of a fragment, in order. Blank lines and other comments
 * are skipped; any other line is an error naming it (a typo in the
 * fragment must not go unnoticed).
 */
export function parseConfigFragment(text: string, source = 'config fragment'): KconfigRequirement[] {
  const requirements: KconfigRequirement[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((rawLine, index) => {
    const line = rawLine.trim();
    const assignment = ASSIGNMENT.exec(line);
    const notSet = NOT_SET.exec(line);
    let requirement: KconfigRequirement;
    if (assignment) requirement = { symbol: assignment[1] as string, value: assignment[2] as string };
    else if (notSet) requirement = { symbol: notSet[1] as string, value: null };
    else if (line === '' || line.startsWith('#')) return;
    else throw new TkvmError('ERR_GUEST_KERNEL_CONFIG', `${source}:${index + 1}: not a Kconfig line: ${line}`);
    if (seen.has(requirement.symbol)) {
      throw new TkvmError('ERR_GUEST_KERNEL_CONFIG', `${source}:${index + 1}: ${requirement.symbol} is given twice`);
    }
    seen.add(requirement.symbol);
    requirements.push(requirement);
  });
  return requirements;
}

/** The symbols of a .config: value for assignments, 'n' for `is not set`. */
export function parseDotConfig(text: string): Map<string, string> {
  const symbols = new Map<string, string>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    const assignment = ASSIGNMENT.exec(line);
    if (assignment) {
      symbols.set(assignment[1] as string, assignment[2] as string);
      continue;
    }
    const notSet = NOT_SET.exec(line);
    if (notSet) symbols.set(notSet[1] as string, 'n');
  }
  return symbols;
}

/** The requirements that `dotConfig` does not meet, in fragment order. */
export function unmetRequirements(requirements: readonly KconfigRequirement[], dotConfig: ReadonlyMap<string, string>): UnmetRequirement[] {
  const unmet: UnmetRequirement[] = [];
  for (const requirement of requirements) {
    const present = dotConfig.get(requirement.symbol);
    const actual = present === undefined || present === 'n' ? null : present;
    if (actual !== requirement.value) unmet.push({ ...requirement, actual });
  }
  return unmet;
}

function describe(value: string | null): string {
  return value === null ? 'not set' : `=${value}`;
}

/**
 * Checks a final .config against a fragment. Returns the symbols checked
 * (in fragment order); throws a TkvmError naming every unmet symbol.
 */
export function verifyKernelConfig(fragmentText: string, dotConfigText: string, source?: string): KconfigRequirement[] {
  const requirements = parseConfigFragment(fragmentText, source);
  const unmet = unmetRequirements(requirements, parseDotConfig(dotConfigText));
  if (unmet.length > 0) {
    const details = unmet.map((item) => `${item.symbol} is ${describe(item.actual)} (wanted ${describe(item.value)})`);
    throw new TkvmError(
      'ERR_GUEST_KERNEL_CONFIG',
      `kernel config does not match ${source ?? 'the fragment'} (unmet dependencies?): ${details.join('; ')}`,
    );
  }
  return requirements;
}
