/**
 * What `tkvm top` shows, computed from two samples of each VM's control
 * socket (`info` and `stat`) taken an interval apart: exits per second by
 * reason, device byte rates, RSS. Pure functions; the sampling and the
 * screen live in the cli layer.
 */
import type { VmInfo, VmStats } from '../vmm/controller.js';
import { formatBytes, formatUptime, renderTable } from './format.js';

/** One VM as seen at one moment. `stats` is null when the VM did not answer `stat`. */
export interface VmSample {
  info: VmInfo;
  stats: VmStats | null;
  /** Monotonic milliseconds (performance.now()) when the sample was taken. */
  atMs: number;
}

export interface DeviceRates {
  name: string;
  /** Per-second rates of the device's counters (every counter, by name). */
  perSecond: Record<string, number>;
  /** Sum of the rates of the counters that count bytes (names containing "bytes"). */
  bytesPerSecond: number;
}

export interface TopRow {
  name: string;
  pid: number;
  state: string;
  cpus: number;
  memBytes: number;
  uptimeMs: number;
  rssBytes: number;
  /** All vCPUs' exits per second, null until two samples exist. */
  exitsPerSecond: number | null;
  /** Exits per second by reason, highest first. */
  exitReasons: Array<[reason: string, perSecond: number]>;
  /** Every device's byte rates added up, null until two samples exist. */
  ioBytesPerSecond: number | null;
  devices: DeviceRates[];
}

export const SORT_KEYS = ['name', 'exits', 'io', 'rss', 'cpus'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** The sort key after `key`, wrapping around (the `s` key of the screen). */
export function nextSortKey(key: SortKey): SortKey {
  return SORT_KEYS[(SORT_KEYS.indexOf(key) + 1) % SORT_KEYS.length] as SortKey;
}

function sumExits(stats: VmStats): Map<string, number> {
  const byReason = new Map<string, number>();
  for (const vcpu of stats.vcpus) {
    for (const [reason, count] of Object.entries(vcpu.exits)) {
      if (Number.isFinite(count)) byReason.set(reason, (byReason.get(reason) ?? 0) + count);
    }
  }
  return byReason;
}

/** A counter's rate; a counter that went backwards (the VM reset it) counts from zero. */
function rate(now: number, before: number | undefined, seconds: number): number {
  if (!Number.isFinite(now)) return 0;
  const delta = before === undefined || now < before ? now : now - before;
  return delta / seconds;
}

/** One row per VM in `current`, with rates against the VM's sample in `previous` (matched by name and pid). */
export function computeRows(previous: ReadonlyMap<string, VmSample>, current: readonly VmSample[]): TopRow[] {
  return current.map((sample) => {
    const { info, stats } = sample;
    const before = previous.get(info.name);
    const earlier = before && before.info.pid === info.pid && before.stats && stats ? before : undefined;
    const seconds = earlier ? (sample.atMs - earlier.atMs) / 1000 : 0;
    const comparable = earlier !== undefined && seconds > 0;
    let exitsPerSecond: number | null = null;
    let exitReasons: Array<[string, number]> = [];
    let ioBytesPerSecond: number | null = null;
    const devices: DeviceRates[] = [];
    if (stats && comparable && earlier.stats) {
      const nowExits = sumExits(stats);
      const thenExits = sumExits(earlier.stats);
      exitReasons = [...nowExits].map(([reason, count]): [string, number] => [reason, rate(count, thenExits.get(reason), seconds)]);
      exitReasons.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      exitsPerSecond = exitReasons.reduce((total, [, perSecond]) => total + perSecond, 0);
      ioBytesPerSecond = 0;
      stats.devices.forEach((device, index) => {
        const then = earlier.stats?.devices[index];
        const thenCounters = then && then.name === device.name ? then.counters : {};
        const perSecond: Record<string, number> = {};
        let bytesPerSecond = 0;
        for (const [counter, value] of Object.entries(device.counters)) {
          const r = rate(value, thenCounters[counter], seconds);
          perSecond[counter] = r;
          if (/bytes/i.test(counter)) bytesPerSecond += r;
        }
        devices.push({ name: device.name, perSecond, bytesPerSecond });
        ioBytesPerSecond = (ioBytesPerSecond ?? 0) + bytesPerSecond;
      });
    } else if (stats) {
      for (const device of stats.devices) devices.push({ name: device.name, perSecond: {}, bytesPerSecond: 0 });
    }
    return {
      name: info.name, pid: info.pid, state: info.state, cpus: info.cpus, memBytes: info.memBytes, uptimeMs: info.uptimeMs,
      rssBytes: stats?.rssBytes ?? 0, exitsPerSecond, exitReasons, ioBytesPerSecond, devices,
    };
  });
}

/** Rows sorted by `key`: names ascending, numbers highest first, ties by name. */
export function sortRows(rows: readonly TopRow[], key: SortKey): TopRow[] {
  const value = (row: TopRow): number => {
    switch (key) {
      case 'exits': return row.exitsPerSecond ?? -1;
      case 'io': return row.ioBytesPerSecond ?? -1;
      case 'rss': return row.rssBytes;
      case 'cpus': return row.cpus;
      default: return 0;
    }
  };
  const byName = (a: TopRow, b: TopRow): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...rows].sort((a, b) => (key === 'name' ? byName(a, b) : value(b) - value(a) || byName(a, b)));
}

/** 1234 -> "1234", 12345 -> "12.3k", 1234567 -> "1.23M". */
export function formatRate(perSecond: number | null): string {
  if (perSecond === null) return '-';
  if (perSecond < 10_000) return String(Math.round(perSecond));
  if (perSecond < 1_000_000) return `${(perSecond / 1000).toFixed(1)}k`;
  return `${(perSecond / 1_000_000).toFixed(2)}M`;
}

/** Bytes per second as "12M/s", or "-" before the second sample. */
export function formatByteRate(perSecond: number | null): string {
  return perSecond === null ? '-' : `${formatBytes(perSecond)}/s`;
}

/** The two exit reasons with the highest rates, as "mmio 1.2k io 300". */
function topReasons(row: TopRow): string {
  return row.exitReasons.filter(([, r]) => r > 0).slice(0, 2).map(([reason, r]) => `${reason} ${formatRate(r)}`).join(' ') || '-';
}

export const TOP_HEADER = ['NAME', 'PID', 'STATE', 'CPUS', 'MEMORY', 'RSS', 'UPTIME', 'EXITS/S', 'TOP EXITS', 'I/O'];

/** The cells of one row, in TOP_HEADER's order. */
export function rowCells(row: TopRow): string[] {
  return [
    row.name, String(row.pid), row.state, String(row.cpus), formatBytes(row.memBytes), formatBytes(row.rssBytes),
    formatUptime(row.uptimeMs), formatRate(row.exitsPerSecond), topReasons(row), formatByteRate(row.ioBytesPerSecond),
  ];
}

/** The plain-text form (stdout not a terminal): one table per refresh. */
export function renderTopText(rows: readonly TopRow[]): string {
  if (rows.length === 0) return 'no running VMs\n';
  return renderTable(TOP_HEADER, rows.map(rowCells), new Set([1, 3, 4, 5, 6, 7, 9]));
}
