/**
 * The guest profiler behind `tkvm perf`: at a fixed rate it asks every vCPU
 * for a sample and kicks it; the vCPU thread, leaving KVM_RUN for the kick,
 * reads its own RIP and CPL, publishes them (VcpuControl) and runs on. The
 * other vCPUs keep running. A vCPU that has not answered by the next tick
 * (paused, or stuck in a long exit) counts as a lost sample.
 */
import type { VcpuHandle } from './vcpu-handle.js';
import type { ProfileResult } from './controller.js';

export type VcpuProfile = Omit<ProfileResult, 'kernelPath'>;

export const MAX_PROFILE_MS = 300_000;
export const MAX_PROFILE_HZ = 1000;

function ripHex(high: number, low: number): string {
  return `0x${high.toString(16).padStart(8, '0')}${low.toString(16).padStart(8, '0')}`;
}

/** Samples `vcpus` at `frequencyHz` for `durationMs`; resolves with the counts by RIP. */
export async function profileVcpus(vcpus: readonly VcpuHandle[], durationMs: number, frequencyHz: number): Promise<VcpuProfile> {
  const periodMs = 1000 / frequencyHz;
  const counts = new Map<string, { rip: string; user: boolean; cpu: number; count: number }>();
  const pending = new Array<number>(vcpus.length).fill(0);
  const sample = new Uint32Array(3);
  let seq = 0;
  let lost = 0;
  let taken = 0;
  const collect = (): void => {
    vcpus.forEach((vcpu, i) => {
      const want = pending[i]!;
      if (want === 0) return;
      pending[i] = 0;
      if (!vcpu.control.takenSample(want, sample)) {
        lost++;
        return;
      }
      taken++;
      const user = sample[2] === 3;
      const rip = ripHex(sample[1]!, sample[0]!);
      const key = `${i}${user ? 'u' : 'k'}${rip}`;
      const entry = counts.get(key);
      if (entry) entry.count++;
      else counts.set(key, { rip, user, cpu: i, count: 1 });
    });
  };
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      collect();
      if (performance.now() - started >= durationMs) {
        clearInterval(timer);
        resolve();
        return;
      }
      seq++;
      vcpus.forEach((vcpu, i) => {
        pending[i] = seq;
        vcpu.control.requestSample(seq);
        vcpu.kick();
      });
    };
    const timer = setInterval(tick, periodMs);
    tick();
  });
  return {
    frequencyHz, durationMs: Math.round(performance.now() - started), vcpus: vcpus.length,
    taken, lost, samples: [...counts.values()].sort((a, b) => b.count - a.count),
  };
}
