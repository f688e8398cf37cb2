/**
 * tkvm perf's report: sampled RIPs resolved to symbols and added up per
 * function, printed highest first as `PERCENT% SYMBOL`, and written as
 * folded stacks (Brendan Gregg's format: frames joined by `;`, a space, the
 * count). Only the leaf frame is known (the sampler reads RIP, not the
 * stack), so each stack is `kernel;FUNCTION` or `user`.
 */
import type { ProfileSample } from '../vmm/controller.js';
import type { SymbolTable } from '../guest/symbols.js';

export const USER_SPACE = '[user space]';
export const UNKNOWN_KERNEL = '[unknown kernel address]';

export interface FunctionCount {
  /** Symbol name, USER_SPACE or UNKNOWN_KERNEL. */
  name: string;
  user: boolean;
  count: number;
}

/** Adds the samples up per function (and all of user space as one entry), highest first. */
export function countByFunction(samples: readonly ProfileSample[], symbols: SymbolTable | null): FunctionCount[] {
  const totals = new Map<string, FunctionCount>();
  for (const sample of samples) {
    const name = sample.user ? USER_SPACE : (symbols?.nameOf(BigInt(sample.rip)) ?? (symbols ? UNKNOWN_KERNEL : sample.rip));
    const key = `${sample.user ? 'u' : 'k'}${name}`;
    const entry = totals.get(key);
    if (entry) entry.count += sample.count;
    else totals.set(key, { name, user: sample.user, count: sample.count });
  }
  return [...totals.values()].sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : 1));
}

/** `PERCENT% SYMBOL` lines for the `limit` busiest functions. */
export function renderTopFunctions(counts: readonly FunctionCount[], limit: number): string {
  const total = counts.reduce((sum, c) => sum + c.count, 0);
  if (total === 0) return '';
  return counts.slice(0, limit).map((c) => `${((100 * c.count) / total).toFixed(2).padStart(6)}% ${c.name}`).join('\n') + '\n';
}

/** Folded stacks, one line per function. */
export function renderFolded(counts: readonly FunctionCount[]): string {
  return counts.map((c) => `${c.user ? 'user' : `kernel;${c.name.replace(/[;\s]/g, '_')}`} ${c.count}`).join('\n') + (counts.length ? '\n' : '');
}

/** Adds the samples of several profile calls together (same vCPU, mode and RIP). */
export function mergeSamples(into: Map<string, ProfileSample>, samples: readonly ProfileSample[]): void {
  for (const s of samples) {
    const key = `${s.cpu}${s.user ? 'u' : 'k'}${s.rip}`;
    const entry = into.get(key);
    if (entry) entry.count += s.count;
    else into.set(key, { ...s });
  }
}
