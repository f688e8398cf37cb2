import { blkBenchmark } from './blk/blk.js';
import { bootBenchmark } from './boot/boot.js';
import { netBenchmark } from './net/net.js';
import { netUserBenchmark } from './net/user.js';
import { syscallBenchmark } from './syscall/syscall.js';
import { exitCostBenchmark } from './exit-cost/exit-cost.js';
import { fsServerLatencyBenchmark } from './fs/server-latency.js';
import { fsBenchmark } from './fs/workload.js';
import { snapshotBenchmark } from './snapshot/snapshot.js';
import type { Benchmark } from './lib/benchmark.js';

/** Every benchmark `node dist/bench/main.js NAME` knows, by name. */
export const benchmarks: readonly Benchmark[] = [exitCostBenchmark, blkBenchmark, netBenchmark, netUserBenchmark, bootBenchmark, syscallBenchmark, fsServerLatencyBenchmark, fsBenchmark, snapshotBenchmark];

export function findBenchmark(name: string): Benchmark | undefined {
  return benchmarks.find((benchmark) => benchmark.name === name);
}
