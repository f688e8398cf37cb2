/**
 * bench/blk: virtio-blk throughput through tkvm's whole device path (guest
 * ring → ioeventfd → device thread → preadv/pwritev on the image → used
 * ring), against pread/pwrite of the same requests on the same file from a
 * small C program (host-io.c). Sequential 64 KiB reads and writes in MB/s,
 * random 4 KiB reads in IOPS. Prints progress on stderr and ends with one
 * JSON line on stdout (summary.ts, bench/README.md).
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../../src/util/errors.js';
import type { Benchmark } from '../lib/benchmark.js';
import { buildCProgram } from '../lib/build-c.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { benchBuildDir, repoRoot } from '../lib/paths.js';
import { roundTo } from '../lib/stats.js';
import type { GuestPass } from './guest-output.js';
import type { HostPass } from './host-output.js';
import { createTempImage, syncImage, TAG_BLOCK_BYTES, type TempImage } from './image.js';
import { BLK_MODES, type BlkMode, GUEST_MEMORY, runHostIo, runTkvm, type RunSpec } from './sides.js';
import { type BlkInput, type BlkParams, passRate, summarizeBlk } from './summary.js';

/** Exit status when --check is given and a target is missed. */
export const EXIT_TARGET_MISSED = 3;
/** The guest's buffer area (blk-bench.c BUFFER_BYTES_MAX) bounds depth × block size. */
const GUEST_BUFFER_BYTES = 16 << 20;
const MAX_BLOCK_BYTES = 1 << 20;
const MIB = 1 << 20;

export type SideName = 'tkvm' | 'host';

export interface BlkOptions {
  params: BlkParams;
  modes: BlkMode[];
  sides: SideName[];
  timeoutMs: number;
  guestPath: string;
  tkvmCliPath: string;
  check: boolean;
}

const usage = `usage: node dist/bench/main.js blk [options]
  --image-mib N   size of the temporary disk image, MiB (default 1024)
  --seq-count N   sequential requests per pass (default 32768: 2 GiB of 64 KiB)
  --rand-count N  random 4 KiB reads per pass (default 200000)
  --seq-bs N      sequential request size, bytes (default 65536)
  --rand-bs N     random read size, bytes (default 4096)
  --depth N       requests the guest keeps in flight, 1-64 (default 32)
  --passes N      passes per run; the last one is measured (default 2)
  --reps N        runs per side and mode; medians are reported (default 3)
  --seed N        random-offset seed (default 1)
  --modes LIST    comma-separated subset of seqread,seqwrite,randread
  --only SIDE     run only "tkvm" or only "host"
  --timeout S     seconds before one run is killed (default 300)
  --guest PATH    guest ELF (default test/guests/build/blk-bench.elf)
  --tkvm PATH     tkvm CLI script (default dist/tkvm/main.js)
  --check         exit with status 3 if a target is missed`;

function blockSize(flag: string, text: string | undefined, fallback: number): number {
  const bytes = parseCount(flag, text, fallback, TAG_BLOCK_BYTES, MAX_BLOCK_BYTES);
  if (bytes % TAG_BLOCK_BYTES !== 0) throw new UsageError(`${flag} must be a multiple of ${TAG_BLOCK_BYTES}, got ${bytes}`);
  return bytes;
}

function parseModes(text: string | undefined): BlkMode[] {
  if (text === undefined) return [...BLK_MODES];
  const modes = text.split(',').map((mode) => mode.trim());
  for (const mode of modes) {
    if (!(BLK_MODES as readonly string[]).includes(mode)) throw new UsageError(`--modes: unknown mode "${mode}" (use ${BLK_MODES.join(', ')})`);
  }
  return BLK_MODES.filter((mode) => modes.includes(mode));
}

export function parseBlkArgs(argv: string[]): BlkOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'image-mib': { type: 'string' },
        'seq-count': { type: 'string' },
        'rand-count': { type: 'string' },
        'seq-bs': { type: 'string' },
        'rand-bs': { type: 'string' },
        depth: { type: 'string' },
        passes: { type: 'string' },
        reps: { type: 'string' },
        seed: { type: 'string' },
        modes: { type: 'string' },
        only: { type: 'string' },
        timeout: { type: 'string' },
        guest: { type: 'string' },
        tkvm: { type: 'string' },
        check: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(`blk: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { values } = parsed;
  const seqBlockBytes = blockSize('--seq-bs', values['seq-bs'], 65536);
  const randBlockBytes = blockSize('--rand-bs', values['rand-bs'], 4096);
  const depth = parseCount('--depth', values.depth, 32, 1, 64);
  if (depth * Math.max(seqBlockBytes, randBlockBytes) > GUEST_BUFFER_BYTES) {
    throw new UsageError(`--depth ${depth} x block size exceeds the guest's ${GUEST_BUFFER_BYTES / MIB} MiB of buffers`);
  }
  const imageBytes = parseCount('--image-mib', values['image-mib'], 1024, 1, 1 << 20) * MIB;
  const only = values.only;
  if (only !== undefined && only !== 'tkvm' && only !== 'host') throw new UsageError(`--only must be "tkvm" or "host", got "${only}"`);
  const root = repoRoot();
  return {
    params: {
      imageBytes,
      seqBlockBytes,
      seqCount: parseCount('--seq-count', values['seq-count'], 32768, 1, 1e9),
      randBlockBytes,
      randCount: parseCount('--rand-count', values['rand-count'], 200_000, 1, 1e9),
      depth,
      passes: parseCount('--passes', values.passes, 2, 1, 16),
      reps: parseCount('--reps', values.reps, 3, 1, 100),
      seed: parseCount('--seed', values.seed, 1, 0),
      guestMemory: GUEST_MEMORY,
    },
    modes: parseModes(values.modes),
    sides: only === undefined ? ['host', 'tkvm'] : [only],
    timeoutMs: parseCount('--timeout', values.timeout, 300, 1, 3600) * 1000,
    guestPath: resolve(values.guest ?? resolve(root, 'test/guests/build/blk-bench.elf')),
    tkvmCliPath: resolve(values.tkvm ?? resolve(root, 'dist/tkvm/main.js')),
    check: values.check ?? false,
  };
}

/** What both sides do for `mode`. */
export function runSpec(params: BlkParams, mode: BlkMode): RunSpec {
  const random = mode === 'randread';
  return {
    mode,
    blockBytes: random ? params.randBlockBytes : params.seqBlockBytes,
    count: random ? params.randCount : params.seqCount,
    depth: params.depth,
    passes: params.passes,
    seed: params.seed,
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function progress(line: string): void {
  process.stderr.write(`blk: ${line}\n`);
}

function formatRate(mode: BlkMode, bytes: number, requests: number, ns: number): string {
  const rate = passRate(mode, bytes, requests, ns);
  return mode === 'randread' ? `${Math.round(rate)} IOPS` : `${rate.toFixed(1)} MB/s`;
}

interface Runners {
  tkvm(spec: RunSpec): Promise<GuestPass[]>;
  host(spec: RunSpec): Promise<HostPass[]>;
  /** Called after every run, outside the timed region (e.g. write back dirty pages). */
  afterRun(): void;
}

/**
 * `reps` rounds per mode; each round runs every side once, the order
 * alternating between rounds so drift on a busy machine hits both alike.
 * A side that fails in a mode is dropped for that mode and its error kept.
 */
export async function measure(options: BlkOptions, runners: Runners, errors: Record<string, string>): Promise<Pick<BlkInput, 'tkvm' | 'host'>> {
  const tkvm: BlkInput['tkvm'] = {};
  const host: BlkInput['host'] = {};
  for (const mode of options.modes) {
    const spec = runSpec(options.params, mode);
    const live = new Set<SideName>(options.sides);
    for (let rep = 1; rep <= options.params.reps; rep++) {
      const order = rep % 2 === 1 ? options.sides : [...options.sides].reverse();
      for (const side of order) {
        if (!live.has(side)) continue;
        try {
          if (side === 'tkvm') {
            const last = (await runners.tkvm(spec)).at(-1)!;
            (tkvm[mode] ??= []).push(last);
            progress(`${mode} rep ${rep}/${options.params.reps} tkvm: ${formatRate(mode, last.bytes, last.requests, last.wallNs)} (${last.kicks} kicks)`);
          } else {
            const last = (await runners.host(spec)).at(-1)!;
            (host[mode] ??= []).push(last);
            progress(`${mode} rep ${rep}/${options.params.reps} host: ${formatRate(mode, last.bytes, last.requests, last.ns)}`);
          }
        } catch (error) {
          errors[`${side} ${mode}`] = message(error);
          progress(message(error));
          live.delete(side);
          delete (side === 'tkvm' ? tkvm : host)[mode];
        } finally {
          runners.afterRun();
        }
      }
    }
  }
  return { tkvm, host };
}

function loadAverage(): number[] {
  return loadavg().map((value) => roundTo(value, 2));
}

export async function runBlk(argv: string[]): Promise<number> {
  const options = parseBlkArgs(argv);
  const loadStart = loadAverage();
  if (options.sides.includes('tkvm')) {
    if (!existsSync(options.guestPath)) throw new BenchError(`guest not found: ${options.guestPath} (run make -C test/guests)`);
    if (!existsSync(options.tkvmCliPath)) throw new BenchError(`tkvm CLI not found: ${options.tkvmCliPath} (run npm run build)`);
  }
  const hostIo = options.sides.includes('host')
    ? await buildCProgram(resolve(repoRoot(), 'bench/blk/host-io.c'), resolve(benchBuildDir(), 'host-io'))
    : '';
  progress(`writing a ${options.params.imageBytes / MIB} MiB tagged image`);
  const image: TempImage = createTempImage(options.params.imageBytes);
  const errors: Record<string, string> = {};
  let samples: Pick<BlkInput, 'tkvm' | 'host'>;
  try {
    samples = await measure(options, {
      tkvm: (spec) => runTkvm(options.tkvmCliPath, options.guestPath, image.path, spec, options.timeoutMs),
      host: (spec) => runHostIo(hostIo, image.path, spec, options.timeoutMs),
      afterRun: () => syncImage(image.path),
    }, errors);
  } finally {
    image.remove();
  }
  const result = summarizeBlk({
    ...samples,
    params: options.params,
    machine: hostInfo(),
    loadAverage: { start: loadStart, end: loadAverage() },
    errors,
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (result.errors !== undefined) return 1;
  if (options.check && (result.meets.seqRead === false || result.meets.seqWrite === false)) return EXIT_TARGET_MISSED;
  return 0;
}

export const blkBenchmark: Benchmark = {
  name: 'blk',
  summary: 'virtio-blk sequential MB/s and random-read IOPS through tkvm vs pread/pwrite on the host',
  usage,
  run: runBlk,
};
