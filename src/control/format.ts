/**
 * Text layout for the management commands: human sizes, uptimes, tables,
 * and the `tkvm debug` / `tkvm stat` reports.
 */
import type { SegmentInfo, VcpuDebugInfo, VmInfo, VmStats } from '../vmm/controller.js';

const SIZE_UNITS = ['K', 'M', 'G', 'T', 'P'];

/** 512 -> "512B", 536870912 -> "512M", 1610612736 -> "1.5G" (powers of 1024). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1024) return `${Math.round(bytes)}B`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = Number.isInteger(value) || value >= 100 ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, '');
  return text + SIZE_UNITS[unit];
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** 42000 -> "42s", 307000 -> "5m07s", 3720000 -> "1h02m", 273600000 -> "3d04h". */
export function formatUptime(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${pad2(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${pad2(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${pad2(hours % 24)}h`;
}

/** Left-aligned columns separated by two spaces; `rightAligned` columns are padded on the left. */
export function renderTable(header: string[], rows: string[][], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function renderVmTable(vms: ReadonlyArray<VmInfo | { name: string; state: string }>): string {
  const rows = vms.map((vm) =>
    'pid' in vm
      ? [vm.name, String(vm.pid), vm.state, String(vm.cpus), formatBytes(vm.memBytes), formatUptime(vm.uptimeMs)]
      : [vm.name, '-', vm.state, '-', '-', '-'],
  );
  return renderTable(['NAME', 'PID', 'STATE', 'CPUS', 'MEMORY', 'UPTIME'], rows, new Set([1, 3, 4, 5]));
}

/** A hex string from the VMM ("0x1f") padded to `digits` hex digits; other text is kept as is. */
function hex(value: string | undefined, digits: number): string {
  if (value === undefined) return '?'.repeat(digits);
  const match = /^0x([0-9a-f]+)$/i.exec(value);
  return match ? (match[1] ?? '').toLowerCase().padStart(digits, '0') : String(value);
}

const GPR_ORDER = [
  ['rax', 'rbx', 'rcx', 'rdx'],
  ['rsi', 'rdi', 'rbp', 'rsp'],
  ['r8', 'r9', 'r10', 'r11'],
  ['r12', 'r13', 'r14', 'r15'],
  ['rip', 'rflags'],
];
const SEGMENT_ORDER = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'];
const CONTROL_ORDER = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'];

/** Keys of `record` in the preferred order first, then the rest alphabetically. */
function ordered(record: Record<string, unknown>, preferred: readonly string[]): string[] {
  const lower = new Map(Object.keys(record).map((k) => [k.toLowerCase(), k]));
  const first = preferred.flatMap((p) => (lower.has(p) ? [lower.get(p) as string] : []));
  const rest = Object.keys(record).filter((k) => !first.includes(k)).sort();
  return [...first, ...rest];
}

function formatSegment(name: string, s: SegmentInfo): string {
  const flags = [s.present ? 'P' : '-', s.long ? 'L' : '-', s.db ? 'D' : '-'].join('');
  return (
    `    ${name.padEnd(4)}sel=${hex('0x' + (Number(s.selector) >>> 0).toString(16), 4)}` +
    ` base=${hex(s.base, 16)} limit=${hex('0x' + (Number(s.limit) >>> 0).toString(16), 8)}` +
    ` type=${(Number(s.type) >>> 0).toString(16)} dpl=${Number(s.dpl)} ${flags}`
  );
}

/** `tkvm debug`: registers, segments, control registers and code bytes per vCPU. */
export function renderDebug(vcpus: readonly VcpuDebugInfo[]): string {
  const out: string[] = [];
  for (const cpu of vcpus) {
    out.push(`vCPU ${cpu.id}`);
    const regs = cpu.regs ?? {};
    const known = new Set(GPR_ORDER.flat());
    for (const row of GPR_ORDER) {
      const present = row.filter((r) => r in regs);
      if (present.length) out.push('  ' + present.map((r) => `${r.padStart(6)}=${hex(regs[r], 16)}`).join(' '));
    }
    const extra = Object.keys(regs).filter((r) => !known.has(r)).sort();
    if (extra.length) out.push('  ' + extra.map((r) => `${r.padStart(6)}=${hex(regs[r], 16)}`).join(' '));
    const segments = cpu.segments ?? {};
    if (Object.keys(segments).length) {
      out.push('  segments:          (flags: P present, L long, D default-size)');
      for (const name of ordered(segments, SEGMENT_ORDER)) {
        const segment = segments[name];
        if (segment) out.push(formatSegment(name, segment));
      }
    }
    const control = cpu.control ?? {};
    if (Object.keys(control).length) {
      out.push('  control:');
      const names = ordered(control, CONTROL_ORDER);
      for (let i = 0; i < names.length; i += 4) {
        out.push('  ' + names.slice(i, i + 4).map((n) => `${n.padStart(9)}=${hex(control[n], 16)}`).join(' '));
      }
    }
    const code = cpu.codeAtRip === null ? '(RIP is not in guest RAM)' : formatCodeBytes(cpu.codeAtRip);
    out.push(`  code at rip: ${code}`);
    out.push('');
  }
  return out.join('\n');
}

/** "0f01d9c3" or "0f 01 d9" -> "0f 01 d9 c3". */
function formatCodeBytes(text: string): string {
  const digits = String(text).replace(/^0x/i, '').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) return String(text);
  return (digits.match(/../g) ?? []).join(' ').toLowerCase() || '(none)';
}

/** `tkvm stat`: per-vCPU exit counts, per-device counters and host RSS. */
export function renderStats(name: string, stats: VmStats): string {
  const reasons = [...new Set(stats.vcpus.flatMap((v) => Object.keys(v.exits ?? {})))].sort();
  const totals = reasons.map((r) => stats.vcpus.reduce((sum, v) => sum + (Number(v.exits?.[r]) || 0), 0));
  const exitRows = stats.vcpus.map((v) => [String(v.id), ...reasons.map((r) => String(v.exits?.[r] ?? 0))]);
  if (stats.vcpus.length > 1) exitRows.push(['total', ...totals.map(String)]);
  const right = new Set(reasons.map((_, i) => i + 1));
  let text = `VM ${name}  host RSS ${formatBytes(stats.rssBytes)}\n\nvCPU exits:\n`;
  text += renderTable(['VCPU', ...reasons.map((r) => r.toUpperCase())], exitRows, right);
  if (stats.devices.length) {
    const rows = stats.devices.flatMap((d) => {
      const counters = Object.entries(d.counters ?? {});
      if (counters.length === 0) return [[d.name, '-', '-']];
      return counters.map(([counter, value], i) => [i === 0 ? d.name : '', counter, String(value)]);
    });
    text += '\ndevices:\n' + renderTable(['DEVICE', 'COUNTER', 'VALUE'], rows, new Set([2]));
  }
  return text;
}
