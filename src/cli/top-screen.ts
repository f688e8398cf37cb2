/**
 * The full-screen `tkvm top`, drawn with Ink (React for terminals): a table
 * of the running VMs refreshed every interval, the selected VM's exit
 * reasons and device rates below it, and keys to sort, pause, resume and
 * stop. All data comes through `sample` and `act` (the control sockets).
 */
import { createElement as h, useEffect, useRef, useState, type ReactElement } from 'react';
import { Box, render, Text, useApp, useInput } from 'ink';
import { computeRows, formatByteRate, formatRate, nextSortKey, rowCells, sortRows, TOP_HEADER, type SortKey, type TopRow, type VmSample } from '../control/top-model.js';

export type TopAction = 'pause' | 'resume' | 'stop';

export interface TopScreenOptions {
  sample(): Promise<VmSample[]>;
  act(name: string, action: TopAction): Promise<void>;
  intervalMs: number;
  initialSort?: SortKey;
}

export const KEY_HELP = '↑/↓ select  s sort  p pause  r resume  x stop  q quit';

/** Column widths that fit every cell of the header and rows. */
function columnWidths(rows: string[][]): number[] {
  return TOP_HEADER.map((title, i) => Math.max(title.length, ...rows.map((r) => (r[i] ?? '').length)));
}

const RIGHT_ALIGNED = new Set([1, 3, 4, 5, 6, 7, 9]);

function line(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (RIGHT_ALIGNED.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ');
}

function details(row: TopRow): ReactElement {
  const reasons = row.exitReasons.filter(([, r]) => r > 0).map(([reason, r]) => `${reason} ${formatRate(r)}/s`).join('  ');
  const devices = row.devices.map((device) => {
    const counters = Object.entries(device.perSecond).filter(([, r]) => r > 0).map(([name, r]) => `${name} ${/bytes/i.test(name) ? formatByteRate(r) : `${formatRate(r)}/s`}`);
    return h(Text, { key: device.name }, `  ${device.name}: ${counters.join('  ') || 'idle'}`);
  });
  return h(Box, { flexDirection: 'column', marginTop: 1 },
    h(Text, { bold: true }, `${row.name} (pid ${row.pid})`),
    h(Text, null, `  exits: ${reasons || (row.exitsPerSecond === null ? 'measuring…' : 'none')}`),
    ...devices);
}

function TopScreen(props: TopScreenOptions): ReactElement {
  const { exit } = useApp();
  const [rows, setRows] = useState<TopRow[]>([]);
  const [sortKey, setSortKey] = useState<SortKey>(props.initialSort ?? 'name');
  const [selected, setSelected] = useState<string | null>(null);
  const [message, setMessage] = useState('');
  const previous = useRef(new Map<string, VmSample>());

  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const refresh = async (): Promise<void> => {
      try {
        const samples = await props.sample();
        if (stopped) return;
        setRows(computeRows(previous.current, samples));
        previous.current = new Map(samples.map((s) => [s.info.name, s]));
      } catch (err) {
        if (!stopped) setMessage(err instanceof Error ? err.message : String(err));
      }
      if (!stopped) timer = setTimeout(() => void refresh(), props.intervalMs);
    };
    void refresh();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  const sorted = sortRows(rows, sortKey);
  const index = Math.max(0, sorted.findIndex((r) => r.name === selected));
  const current = sorted[index];
  // Keys act on what the newest frame shows: the handler reads this ref,
  // not its render's closure (its re-subscription may lag a frame).
  const latest = useRef({ sorted, index, current, sortKey });
  latest.current = { sorted, index, current, sortKey };

  useInput((input, key) => {
    const { sorted, index, current, sortKey } = latest.current;
    if (input === 'q' || key.escape || (key.ctrl && input === 'c')) {
      exit();
      return;
    }
    if (key.upArrow || input === 'k') setSelected(sorted[Math.max(0, index - 1)]?.name ?? null);
    else if (key.downArrow || input === 'j') setSelected(sorted[Math.min(sorted.length - 1, index + 1)]?.name ?? null);
    else if (input === 's') setSortKey(nextSortKey(sortKey));
    else if (current && (input === 'p' || input === 'r' || input === 'x')) {
      const action: TopAction = input === 'p' ? 'pause' : input === 'r' ? 'resume' : 'stop';
      const name = current.name;
      setMessage(`${name}: ${action}…`);
      props.act(name, action).then(
        () => setMessage(`${name}: ${action === 'stop' ? 'stopping' : action === 'pause' ? 'paused' : 'resumed'}`),
        (err: unknown) => setMessage(`${name}: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
  });

  const cells = sorted.map(rowCells);
  const widths = columnWidths(cells);
  return h(Box, { flexDirection: 'column' },
    h(Text, null, h(Text, { bold: true }, 'tkvm top'), `  ${sorted.length} VM${sorted.length === 1 ? '' : 's'}  sort: ${sortKey}  ${KEY_HELP}`),
    h(Text, { bold: true }, line(TOP_HEADER, widths)),
    ...(sorted.length === 0 ? [h(Text, { key: 'none', dimColor: true }, 'no running VMs')] : []),
    ...sorted.map((row, i) => h(Text, { key: row.name, inverse: i === index }, line(cells[i] ?? [], widths))),
    ...(current ? [details(current)] : []),
    h(Text, { dimColor: true }, message || ' '));
}

/** Terminal streams for the screen (tests pass their own); default the process's. */
export interface TopScreenStreams {
  stdout: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

/** Runs the screen until the user quits; resolves then. */
export async function runTopScreen(options: TopScreenOptions, streams?: TopScreenStreams): Promise<void> {
  const instance = render(h(TopScreen, options), { exitOnCtrlC: false, patchConsole: false, ...(streams ?? {}) });
  await instance.waitUntilExit();
}
