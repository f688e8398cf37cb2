/**
 * A lock validator for the locks and waits of src/util/sync.ts, on when
 * TKVM_LOCKDEP=1 (the idea of the Linux kernel's lockdep, much reduced).
 *
 * Each thread keeps the stack of locks it holds. Taking lock B while holding
 * A records the edge A→B, with both acquisition sites, in a registry that
 * lives in a SharedArrayBuffer shared by every thread of the process, so an
 * order taken in one worker is seen by all. A new edge that closes a cycle
 * (B→…→A was seen before, in any thread) is a potential deadlock and is
 * reported the first time, before anything blocks. So is a lock held across
 * a blocking wait (`waitFor`). A lock's identity is its name (its class):
 * every mutex named "mailbox" is the same node of the graph.
 *
 * The registry reaches workers through worker_threads environment data,
 * which every Worker created after this module has loaded inherits.
 * When lockdep is off nothing here runs: the callers test `LOCKDEP` first.
 */
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import * as log from './log.js';

export const LOCKDEP: boolean = process.env['TKVM_LOCKDEP'] === '1';

const ENV_KEY = 'tkvm:lockdep-registry';
const MAX_CLASSES = 64;
const NAME_BYTES = 64;
const MAX_EDGES = 512;
const SITE_BYTES = 512;
/** Reports kept per thread, for tests and `lockdepReports()`; more are only logged. */
const MAX_KEPT_REPORTS = 64;

// Registry layout: a header of Int32 words, then the tables.
const H_MUTEX = 0;
const H_CLASSES = 1;
const H_EDGES = 2;
const HEADER_BYTES = 16;
const NAMES_OFF = HEADER_BYTES;
const MATRIX_OFF = NAMES_OFF + MAX_CLASSES * NAME_BYTES;
const CYCLE_REPORTED_OFF = MATRIX_OFF + MAX_CLASSES * MAX_CLASSES * 4;
const WAIT_REPORTED_OFF = CYCLE_REPORTED_OFF + MAX_CLASSES * MAX_CLASSES * 4;
const SITE_LEN_OFF = WAIT_REPORTED_OFF + MAX_CLASSES * 4;
const SITES_OFF = SITE_LEN_OFF + MAX_EDGES * 2 * 4;
const REGISTRY_BYTES = SITES_OFF + MAX_EDGES * 2 * SITE_BYTES;
/** Matrix value for an edge whose sites did not fit. */
const EDGE_NO_SITES = MAX_EDGES + 1;

export type LockdepReportKind = 'order-cycle' | 'held-across-wait' | 'recursive';

export interface LockdepReport {
  kind: LockdepReportKind;
  message: string;
  /** The acquisition (or wait) sites involved, one line each. */
  sites: string[];
}

class Registry {
  readonly sab: SharedArrayBuffer;
  readonly header: Int32Array;
  readonly names: Uint8Array;
  readonly matrix: Int32Array;
  readonly cycleReported: Int32Array;
  readonly waitReported: Int32Array;
  readonly siteLen: Int32Array;
  readonly sites: Uint8Array;
  readonly #local = new Map<string, number>();

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.header = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.names = new Uint8Array(sab, NAMES_OFF, MAX_CLASSES * NAME_BYTES);
    this.matrix = new Int32Array(sab, MATRIX_OFF, MAX_CLASSES * MAX_CLASSES);
    this.cycleReported = new Int32Array(sab, CYCLE_REPORTED_OFF, MAX_CLASSES * MAX_CLASSES);
    this.waitReported = new Int32Array(sab, WAIT_REPORTED_OFF, MAX_CLASSES);
    this.siteLen = new Int32Array(sab, SITE_LEN_OFF, MAX_EDGES * 2);
    this.sites = new Uint8Array(sab, SITES_OFF, MAX_EDGES * 2 * SITE_BYTES);
  }

  /** The class number of a lock name, registering it on first use; -1 when the table is full. */
  classOf(name: string): number {
    const known = this.#local.get(name);
    if (known !== undefined) return known;
    const key = encode(name, NAME_BYTES - 1);
    const h = this.header;
    // A plain futex lock of its own: the registry is not itself validated.
    while (Atomics.compareExchange(h, H_MUTEX, 0, 1) !== 0) Atomics.wait(h, H_MUTEX, 1, 10);
    let id = -1;
    try {
      const count = Atomics.load(h, H_CLASSES);
      for (let i = 0; i < count && id < 0; i++) if (this.#nameIs(i, key)) id = i;
      if (id < 0 && count < MAX_CLASSES) {
        this.names.set(key, count * NAME_BYTES);
        this.names[count * NAME_BYTES + key.length] = 0;
        Atomics.store(h, H_CLASSES, count + 1);
        id = count;
      }
    } finally {
      Atomics.store(h, H_MUTEX, 0);
      Atomics.notify(h, H_MUTEX);
    }
    if (id < 0) {
      log.error(`lockdep: more than ${MAX_CLASSES} lock classes; "${name}" is not validated`);
      return -1;
    }
    this.#local.set(name, id);
    return id;
  }

  className(id: number): string {
    const start = id * NAME_BYTES;
    let end = start;
    while (end < start + NAME_BYTES && this.names[end] !== 0) end++;
    return new TextDecoder().decode(this.names.slice(start, end));
  }

  #nameIs(i: number, key: Uint8Array): boolean {
    const off = i * NAME_BYTES;
    for (let j = 0; j < key.length; j++) if (this.names[off + j] !== key[j]) return false;
    return this.names[off + key.length] === 0;
  }

  edge(from: number, to: number): number {
    return Atomics.load(this.matrix, from * MAX_CLASSES + to);
  }

  /** Records from→to with its two sites; false if another thread recorded it first. */
  addEdge(from: number, to: number, heldSite: string, takeSite: string): boolean {
    const cell = from * MAX_CLASSES + to;
    if (Atomics.load(this.matrix, cell) !== 0) return false;
    const idx = Atomics.add(this.header, H_EDGES, 1);
    let value = EDGE_NO_SITES;
    if (idx < MAX_EDGES) {
      this.#writeSite(idx * 2, heldSite);
      this.#writeSite(idx * 2 + 1, takeSite);
      value = idx + 1;
    }
    // The sites are written before the edge is published (seq-cst publishes them).
    return Atomics.compareExchange(this.matrix, cell, 0, value) === 0;
  }

  /** [site where `from` was held, site where `to` was taken] of a recorded edge. */
  edgeSites(from: number, to: number): [string, string] {
    const v = this.edge(from, to);
    if (v <= 0 || v === EDGE_NO_SITES) return ['(site not recorded)', '(site not recorded)'];
    return [this.#readSite((v - 1) * 2), this.#readSite((v - 1) * 2 + 1)];
  }

  /** A path to→…→from in the recorded graph (class numbers), or null. */
  pathBetween(start: number, goal: number): number[] | null {
    const prev = new Int32Array(MAX_CLASSES).fill(-2);
    prev[start] = -1;
    const queue = [start];
    const count = Math.min(Atomics.load(this.header, H_CLASSES), MAX_CLASSES);
    while (queue.length > 0) {
      const n = queue.shift()!;
      if (n === goal) {
        const path = [n];
        for (let p = prev[n]!; p >= 0; p = prev[p]!) path.unshift(p);
        return path;
      }
      for (let m = 0; m < count; m++) {
        if (prev[m] === -2 && this.edge(n, m) !== 0) {
          prev[m] = n;
          queue.push(m);
        }
      }
    }
    return null;
  }

  /** True the first time it is asked for this pair (in any thread). */
  firstCycleReport(a: number, b: number): boolean {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    return Atomics.compareExchange(this.cycleReported, lo * MAX_CLASSES + hi, 0, 1) === 0;
  }

  firstWaitReport(cls: number): boolean {
    return Atomics.compareExchange(this.waitReported, cls, 0, 1) === 0;
  }

  #writeSite(slot: number, site: string): void {
    const bytes = encode(site, SITE_BYTES);
    this.sites.set(bytes, slot * SITE_BYTES);
    Atomics.store(this.siteLen, slot, bytes.length);
  }

  #readSite(slot: number): string {
    const len = Atomics.load(this.siteLen, slot);
    return new TextDecoder().decode(this.sites.slice(slot * SITE_BYTES, slot * SITE_BYTES + len));
  }
}

function encode(s: string, max: number): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // do not cut a UTF-8 sequence
  return bytes.slice(0, end);
}

let registry: Registry | undefined;

function theRegistry(): Registry {
  if (registry) return registry;
  let sab = getEnvironmentData(ENV_KEY) as SharedArrayBuffer | undefined;
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength !== REGISTRY_BYTES) {
    sab = new SharedArrayBuffer(REGISTRY_BYTES);
    setEnvironmentData(ENV_KEY, sab); // workers spawned from here on share it
  }
  registry = new Registry(sab);
  return registry;
}

// Created at load, so that every worker spawned afterwards inherits it.
if (LOCKDEP) theRegistry();

/** This thread's held locks: class numbers and acquisition sites, innermost last. */
const heldClass: number[] = [];
const heldSite: string[] = [];
const kept: LockdepReport[] = [];

function report(r: LockdepReport): void {
  if (kept.length < MAX_KEPT_REPORTS) kept.push(r);
  log.error(`lockdep: ${r.message}\n  ${r.sites.join('\n  ')}`);
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type Boundary = Function;

/**
 * The caller's site: the first stack frames below `boundary` (the sync.ts
 * entry point that was called; a bundle renames files, so frames are cut by
 * function), as "fn (file:line:col)" joined by " < ".
 */
export function callerSite(boundary?: Boundary): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, boundary ?? callerSite);
  const frames = (holder.stack ?? '').split('\n').slice(1).map((l) => l.trim().replace(/^at /, ''))
    .filter((l) => !/[/\\]util[/\\](sync|lockdep)\.[jt]s/.test(l));
  return frames.slice(0, 3).join(' < ') || '(unknown site)';
}

/** Class number for a lock name (lockdep on only). */
export function lockClass(name: string): number {
  return theRegistry().classOf(name);
}

/**
 * Before blocking on lock `cls`: records the order edges from every lock
 * this thread holds and reports a cycle or a recursive acquisition.
 * Returns the acquisition site, to be passed to `acquired`.
 */
export function beforeLock(cls: number, boundary: Boundary): string {
  const site = callerSite(boundary);
  if (cls < 0) return site;
  const reg = theRegistry();
  for (let i = 0; i < heldClass.length; i++) {
    const held = heldClass[i]!;
    if (held < 0) continue;
    if (held === cls) {
      if (reg.firstCycleReport(cls, cls)) {
        report({
          kind: 'recursive',
          message: `possible deadlock: lock "${reg.className(cls)}" taken while this thread already holds a lock of that class`,
          sites: [`held:   ${heldSite[i]}`, `taking: ${site}`],
        });
      }
      continue;
    }
    if (reg.edge(held, cls) !== 0) continue;
    const back = reg.pathBetween(cls, held);
    if (back && reg.firstCycleReport(held, cls)) {
      const sites = [`this thread holds "${reg.className(held)}" taken at ${heldSite[i]}`, `  and takes "${reg.className(cls)}" at ${site}`];
      for (let k = 0; k + 1 < back.length; k++) {
        const [s1, s2] = reg.edgeSites(back[k]!, back[k + 1]!);
        sites.push(`earlier, "${reg.className(back[k]!)}" was held, taken at ${s1}`, `  while "${reg.className(back[k + 1]!)}" was taken at ${s2}`);
      }
      const order = back.map((n) => `"${reg.className(n)}"`).join(' → ');
      report({
        kind: 'order-cycle',
        message: `possible ABBA deadlock: "${reg.className(held)}" → "${reg.className(cls)}" here, but ${order} before`,
        sites,
      });
    }
    reg.addEdge(held, cls, heldSite[i]!, site);
  }
  return site;
}

export function acquired(cls: number, site: string): void {
  heldClass.push(cls);
  heldSite.push(site);
}

export function released(cls: number, name: string, boundary: Boundary): void {
  for (let i = heldClass.length - 1; i >= 0; i--) {
    if (heldClass[i] === cls) {
      heldClass.splice(i, 1);
      heldSite.splice(i, 1);
      return;
    }
  }
  report({ kind: 'recursive', message: `lock "${name}" released by a thread that does not hold it`, sites: [`at ${callerSite(boundary)}`] });
}

/** Before a blocking wait: reports each lock held across it (once per lock class). */
export function beforeWait(site: string | undefined, boundary: Boundary): void {
  if (heldClass.length === 0) return;
  const reg = theRegistry();
  const stack = callerSite(boundary);
  const where = site !== undefined ? `${site} (${stack})` : stack;
  for (let i = 0; i < heldClass.length; i++) {
    const cls = heldClass[i]!;
    if (cls < 0 || !reg.firstWaitReport(cls)) continue;
    report({
      kind: 'held-across-wait',
      message: `possible deadlock: lock "${reg.className(cls)}" is held across a blocking wait`,
      sites: [`held:    taken at ${heldSite[i]}`, `waiting: at ${where}`],
    });
  }
}

/** The reports this thread has made (the first few), oldest first. */
export function lockdepReports(): LockdepReport[] {
  return kept.slice();
}

/** The names of the locks this thread holds now, innermost last (lockdep on only). */
export function heldLocks(): string[] {
  return heldClass.map((c) => (c < 0 ? '?' : theRegistry().className(c)));
}
