/**
 * Taking a snapshot of a built, paused VM (docs/snapshot.md). The caller
 * (Machine.snapshot) has every vCPU parked; this quiesces the device
 * threads, saves vCPU, VM and device state, writes guest memory to a
 * sparse file and the state file last, each through a temporary name and
 * a rename, so a directory holds either the old snapshot or the new one.
 *
 * A snapshot directory:
 *   state             the state file (format.ts), naming its memory file
 *   memory-<id>       guest RAM (memory-file.ts)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VmConfig } from '../config.js';
import type { VmParts } from '../builder.js';
import { encodeStateFile, type Section, SnapshotError } from './format.js';
import { kvmCapabilities, saveVcpu, saveVm, type KvmCapabilities } from './kvm-state.js';
import { type MemoryFileStats, writeMemoryFile } from './memory-file.js';
import type { VirtioPciSavedState } from '../../devices/virtio/pci/transport.js';

export const STATE_FILE = 'state';
export const MEMORY_FILE_PATTERN = /^memory-[0-9a-f]{16}$/;

/** The `meta` section: what the snapshot is of, and what it needs from the host that restores it. */
export interface SnapshotMeta {
  tkvmVersion: string;
  createdAtMs: number;
  /** The VM's configuration, without its name and the run-time choices (timing report, log level). */
  config: VmConfig;
  kvm: KvmCapabilities;
  /** The guest TSC frequency (KVM_GET_TSC_KHZ); the restoring host must run the guest at it. */
  tscKhz: number;
  memory: { file: string; bytes: number; touchedPages: number; dataPages: number };
  /** Each disk's size when the snapshot was taken: a restore needs the same. */
  diskBytes: number[];
  /** The virtio function in each PCI slot, in order (the device set). */
  pciFunctions: Array<{ slot: number; type: string }>;
}

export interface SnapshotSummary {
  dir: string;
  stateBytes: number;
  memory: MemoryFileStats;
  elapsedMs: number;
}

/** Run-time choices that are not part of what a snapshot restores. */
export function snapshotConfig(config: VmConfig): VmConfig {
  const { name: _name, reportTiming: _timing, logLevel: _log, ...rest } = config;
  return rest;
}

/** Saves the parked VM in `parts` to `dir` (created if missing). */
export async function takeSnapshot(parts: VmParts, config: VmConfig, dir: string, tkvmVersion: string): Promise<SnapshotSummary> {
  const started = performance.now();
  const { kvm, vm, mem, legacy, pci } = parts;
  if (!kvm || !vm || !mem || !legacy || !pci) throw new SnapshotError('ERR_SNAPSHOT_MISSING', 'the VM is not built');
  if ((config.shares ?? []).length > 0) throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', 'a VM with shared directories (--share) cannot be snapshotted yet');
  if (config.execStreams) throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', "a VM running an --exec command on its own streams cannot be snapshotted yet");
  mkdirSync(dir, { recursive: true });
  legacy.serial.serviceSharedAccess();

  // Devices first: once they are quiet, nothing changes guest memory, the rings or the irqchip but the restore.
  const functions = pci.functions;
  const saved: VirtioPciSavedState[] = [];
  try {
    for (const fn of functions) saved.push(await fn.transport.saveState());
    const caps = kvmCapabilities(kvm, vm);
    const msrIndices = kvm.msrIndexList();
    const sections: Section[] = [];
    for (const vcpu of parts.vcpus) {
      vcpu.completePendingExit();
      sections.push(...saveVcpu(vcpu, caps, msrIndices));
    }
    sections.push(...saveVm(vm));
    sections.push(json('dev.serial', legacy.serial.saveState()));
    sections.push(json('dev.i8042', legacy.i8042.saveState()));
    sections.push(json('dev.rtc', legacy.rtc.saveState()));
    sections.push(json('dev.pci', {
      configAddress: pci.root.configIo.address,
      bridge: pci.root.device(0)?.config.saveState() ?? null,
      functions: functions.map((fn, i) => ({ slot: fn.slot, type: fn.spec.type, state: saved[i] })),
    }));

    const id = randomBytes(8).toString('hex');
    const memoryName = `memory-${id}`;
    const memoryTmp = join(dir, `.${memoryName}.tmp`);
    const memory = writeMemoryFile(mem, memoryTmp);
    const meta: SnapshotMeta = {
      tkvmVersion,
      createdAtMs: Date.now(),
      config: snapshotConfig(config),
      kvm: caps,
      tscKhz: parts.vcpus[0]!.getTscKhz(),
      memory: { file: memoryName, bytes: memory.totalBytes, touchedPages: memory.touchedPages, dataPages: memory.dataPages },
      diskBytes: (config.disks ?? []).map((d) => statSync(d.path).size),
      pciFunctions: functions.map((fn) => ({ slot: fn.slot, type: fn.spec.type })),
    };
    const state = encodeStateFile([json('meta', meta), ...sections]);
    const stateTmp = join(dir, `.${STATE_FILE}.tmp`);
    writeFileSync(stateTmp, state, { mode: 0o600 });
    renameSync(memoryTmp, join(dir, memoryName));
    renameSync(stateTmp, join(dir, STATE_FILE));
    removeOldMemoryFiles(dir, memoryName);
    return { dir, stateBytes: state.length, memory, elapsedMs: performance.now() - started };
  } finally {
    for (const fn of functions) fn.transport.releaseAfterSnapshot();
  }
}

/** Memory files of earlier snapshots in `dir` (VMs restored from them keep their mapping; the name goes). */
function removeOldMemoryFiles(dir: string, keep: string): void {
  for (const name of readdirSync(dir)) {
    if (name !== keep && MEMORY_FILE_PATTERN.test(name)) rmSync(join(dir, name), { force: true });
  }
}

function json(name: string, value: unknown): Section {
  return { name, payload: new TextEncoder().encode(JSON.stringify(value)) };
}
