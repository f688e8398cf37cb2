/**
 * A VmController for tests of the control plane: records calls, and can
 * be made slow or failing per method. Not used by the VMM.
 */
import type { ConsoleAttachment, ConsoleOutputListener, ProfileResult, SnapshotResult, VcpuDebugInfo, VmController, VmInfo, VmState, VmStats } from '../vmm/controller.js';
import { ConsoleHub } from '../vmm/console-hub.js';

export type ControllerMethod = keyof VmController;

export class FakeController implements VmController {
  readonly calls: Record<ControllerMethod, number> = {
    info: 0, stop: 0, pause: 0, resume: 0, debug: 0, stats: 0, injectNmi: 0, sendSysrq: 0, profile: 0, attachConsole: 0, writeConsole: 0, snapshot: 0,
  };
  snapshots: Array<[string, 'resume' | 'stop']> = [];
  /** The guest console: tests publish "guest output" here; its ring is what attaching clients are replayed. */
  readonly console = new ConsoleHub(1024);
  /** What clients typed, in order. */
  consoleInput: number[] = [];
  /** Most bytes writeConsole accepts per call (the rest count as dropped). */
  consoleInputRoom = Infinity;
  state: VmState = 'running';
  stopRequests: boolean[] = [];
  nmis: number[] = [];
  sysrqKeys: string[] = [];
  /** Milliseconds each async method waits before completing. */
  delays: Partial<Record<ControllerMethod, number>> = {};
  /** An error each method throws (async methods reject with it). */
  failures: Partial<Record<ControllerMethod, Error>> = {};

  constructor(readonly vmInfo: Omit<VmInfo, 'state'> = {
    name: 'testvm', pid: 4242, cpus: 2, memBytes: 512 * 1024 * 1024, uptimeMs: 3_720_000,
  }) {}

  info(): VmInfo {
    this.calls.info++;
    const failure = this.failures.info;
    if (failure) throw failure;
    return { ...this.vmInfo, state: this.state };
  }

  private async step(method: ControllerMethod): Promise<void> {
    this.calls[method]++;
    const delay = this.delays[method];
    if (delay) await new Promise((resolve) => setTimeout(resolve, delay).unref());
    const failure = this.failures[method];
    if (failure) throw failure;
  }

  async stop(force: boolean): Promise<void> {
    await this.step('stop');
    this.stopRequests.push(force);
    this.state = 'stopping';
  }
  async pause(): Promise<void> {
    await this.step('pause');
    this.state = 'paused';
  }
  async resume(): Promise<void> {
    await this.step('resume');
    this.state = 'running';
  }
  async debug(): Promise<VcpuDebugInfo[]> {
    await this.step('debug');
    return [0, 1].map((id) => ({
      id,
      regs: {
        rax: '0x1', rbx: '0x0', rcx: '0x0', rdx: '0x3f8', rsi: '0x0', rdi: '0x0', rbp: '0x0', rsp: '0x7c00',
        r8: '0x0', r9: '0x0', r10: '0x0', r11: '0x0', r12: '0x0', r13: '0x0', r14: '0x0', r15: '0x0',
        rip: '0xffffffff81000000', rflags: '0x2',
      },
      segments: {
        cs: { selector: 0x10, base: '0x0', limit: 0xffffffff, type: 11, dpl: 0, present: true, long: true, db: false },
        ds: { selector: 0x18, base: '0x0', limit: 0xffffffff, type: 3, dpl: 0, present: true, long: false, db: true },
      },
      control: {
        cr0: '0x80050033', cr2: '0x0', cr3: '0x1000', cr4: '0x20', cr8: '0x0', efer: '0xd01', apic_base: '0xfee00900',
        gdt: '0x9000/39', idt: '0x0/0',
      },
      codeAtRip: id === 0 ? 'f4eb fd90' : null,
    }));
  }
  async stats(): Promise<VmStats> {
    await this.step('stats');
    return {
      vcpus: [
        { id: 0, exits: { io: 1200, hlt: 7, mmio: 30 } },
        { id: 1, exits: { io: 5, hlt: 99 } },
      ],
      devices: [
        { name: 'serial0', counters: { txBytes: 4096, rxBytes: 12 } },
        { name: 'virtio-blk0', counters: { requests: 17 } },
      ],
      rssBytes: 96 * 1024 * 1024,
    };
  }
  async injectNmi(cpu: number): Promise<void> {
    await this.step('injectNmi');
    this.nmis.push(cpu);
  }
  /** Profile requests seen, as [durationMs, frequencyHz]. */
  profiles: Array<[number, number]> = [];
  /** What profile() answers: two kernel places on vCPU 0 and one user place on vCPU 1. */
  async profile(durationMs: number, frequencyHz: number): Promise<ProfileResult> {
    await this.step('profile');
    this.profiles.push([durationMs, frequencyHz]);
    return {
      kernelPath: '/boot/vmlinux-test', frequencyHz, durationMs, vcpus: 2, taken: 10, lost: 1,
      samples: [
        { rip: '0xffffffff81000010', user: false, cpu: 0, count: 6 },
        { rip: '0xffffffff81000200', user: false, cpu: 0, count: 3 },
        { rip: '0x0000000000401000', user: true, cpu: 1, count: 1 },
      ],
    };
  }
  attachConsole(listener: ConsoleOutputListener): ConsoleAttachment {
    this.calls.attachConsole++;
    const failure = this.failures.attachConsole;
    if (failure) throw failure;
    return this.console.attach(listener);
  }
  writeConsole(bytes: Uint8Array): number {
    this.calls.writeConsole++;
    const failure = this.failures.writeConsole;
    if (failure) throw failure;
    const accepted = Math.min(bytes.length, this.consoleInputRoom);
    this.consoleInput.push(...bytes.subarray(0, accepted));
    return accepted;
  }
  async sendSysrq(key: string): Promise<void> {
    await this.step('sendSysrq');
    this.sysrqKeys.push(key);
  }

  async snapshot(dir: string, after: 'resume' | 'stop'): Promise<SnapshotResult> {
    await this.step('snapshot');
    this.snapshots.push([dir, after]);
    if (after === 'stop') this.state = 'stopping';
    return { dir, stateBytes: 20_000, memoryBytes: this.vmInfo.memBytes, touchedPages: 4096, dataPages: 1024, elapsedMs: 120 };
  }
}
