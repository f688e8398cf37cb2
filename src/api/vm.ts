/**
 * The library: `import { createVm } from 'tkvm'`. A Vm is configured with
 * the resource model (the JSON shape of a Firecracker config file, the
 * same schemas as the HTTP API), started, and then awaited, paused,
 * resumed or stopped; its console is a Duplex stream and its lifecycle
 * is told through events. It runs through the same builder and Machine as
 * `tkvm run`, and serves the same control socket, so `tkvm list`, `stat`
 * and `pause` see it.
 */
import { EventEmitter } from 'node:events';
import { Duplex, PassThrough } from 'node:stream';
import { ControlServer } from '../control/server.js';
import { defaultVmName } from '../control/paths.js';
import type { VmConfig } from '../vmm/config.js';
import type { VmStats } from '../vmm/controller.js';
import { Machine, type MachineResult } from '../vmm/machine.js';
import * as log from '../util/log.js';
import { ApiError } from './errors.js';
import { VmResources, type TkvmVmOptions } from './vm-resources.js';
import type { FullVmConfigurationBody } from './resources/full-config.js';

/** Where a Vm is in its life. */
export type VmLifecycleState = 'created' | 'starting' | 'running' | 'paused' | 'stopping' | 'exited';

/** How a VM ended: its exit status as `tkvm run` would report it (README, "Exit statuses"). */
export type VmExit = MachineResult;

export interface VmOptions extends TkvmVmOptions {
  /**
   * 'pipe' (default): `vm.console` is a Duplex; what the guest writes to its
   * console is read from it, what is written to it is typed into the guest.
   * Unread output holds the guest's console writes back (flow control), as
   * a serial line would. 'inherit': this process's stdin and stdout.
   */
  console?: 'pipe' | 'inherit';
  /** Serve the control socket, so that tkvm list/stat/pause/stop see the VM (default true). */
  control?: boolean;
  /** SIGINT, SIGTERM and SIGHUP of this process end the VM (default false: the host program's own). */
  handleSignals?: boolean;
  /** Control socket directory (default: tkvm's, see docs/control-protocol.md). */
  controlDir?: string;
}

/** The library's configuration: Firecracker's FullVmConfiguration (drives, boot-source, machine-config, ...). */
export type VmDefinition = FullVmConfigurationBody;

let vmsCreated = 0;

export interface VmEventMap {
  start: [];
  pause: [];
  resume: [];
  exit: [VmExit];
}

export class Vm extends EventEmitter<VmEventMap> {
  readonly name: string;
  /** The guest console (options.console 'pipe'); null with 'inherit'. */
  readonly console: Duplex | null;
  readonly #config: VmConfig;
  readonly #options: VmOptions;
  #machine: Machine | undefined;
  #state: VmLifecycleState = 'created';
  #exit: Promise<VmExit>;
  #resolveExit!: (exit: VmExit) => void;
  #fromGuest: PassThrough | undefined;
  #toGuest: PassThrough | undefined;

  /** Use createVm(); this takes a VmConfig that VmResources made. */
  constructor(config: VmConfig, options: VmOptions = {}) {
    super();
    vmsCreated++;
    this.name = config.name ?? (vmsCreated === 1 ? defaultVmName() : `${defaultVmName()}-${vmsCreated}`);
    this.#config = { ...config, name: this.name };
    this.#options = options;
    this.#exit = new Promise((resolve) => { this.#resolveExit = resolve; });
    if ((options.console ?? 'pipe') === 'pipe') {
      this.#fromGuest = new PassThrough();
      this.#toGuest = new PassThrough();
      this.console = Duplex.from({ readable: this.#fromGuest, writable: this.#toGuest });
    } else this.console = null;
  }

  /** The VmConfig this VM is built from (what tkvm's builder gets). */
  get config(): Readonly<VmConfig> {
    return this.#config;
  }

  get state(): VmLifecycleState {
    if (this.#state !== 'running' || !this.#machine) return this.#state;
    // Paused or stopping through the control socket too (tkvm pause NAME).
    return this.#machine.info().state;
  }

  /**
   * Builds the VM and starts its vCPUs; resolves once it runs. A build error
   * (a bad kernel, a missing disk) rejects, and the VM may be started again.
   */
  start(): Promise<void> {
    if (this.#state !== 'created') return Promise.reject(new ApiError('ERR_VM_ALREADY_STARTED', `VM ${this.name} was already started`));
    this.#state = 'starting';
    if (this.#config.logLevel) log.setLogLevel(this.#config.logLevel);
    const consoleIo = this.#toGuest && this.#fromGuest ? { input: this.#toGuest, output: this.#fromGuest, escapes: false } : undefined;
    const machine = new Machine(this.#config, { consoleIo, handleSignals: this.#options.handleSignals ?? false });
    this.#machine = machine;
    let control: ControlServer | undefined;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      const prepare = async (): Promise<void> => {
        if (this.#options.control ?? true) {
          control = await ControlServer.start({ name: this.name, controller: machine, ...(this.#options.controlDir !== undefined ? { dir: this.#options.controlDir } : {}) });
        }
      };
      const onStarted = (): void => {
        started = true;
        this.#state = 'running';
        this.emit('start');
        resolve();
      };
      machine.run(prepare, onStarted).then(
        async (result) => {
          await control?.close();
          this.#finish(result);
        },
        async (err: unknown) => {
          await control?.close();
          if (!started) {
            this.#machine = undefined;
            this.#state = 'created';
            reject(err);
          } else this.#finish({ status: 1, reason: (err as Error).message, clean: false });
        },
      );
    });
  }

  #finish(result: VmExit): void {
    this.#state = 'exited';
    // The console's readable side ends; what is written to it afterwards is dropped, not an error.
    this.#fromGuest?.end();
    this.#toGuest?.resume();
    this.#resolveExit(result);
    this.emit('exit', result);
  }

  /** Resolves when the VM has ended (also when it ended before the call). */
  wait(): Promise<VmExit> {
    return this.#exit;
  }

  #running(what: string): Machine {
    const machine = this.#machine;
    if (!machine || (this.#state !== 'running')) throw new ApiError('ERR_VM_NOT_RUNNING', `cannot ${what} VM ${this.name}: it is ${this.state}`);
    return machine;
  }

  /** Every vCPU leaves KVM_RUN and waits; resolves once all are parked. */
  async pause(): Promise<void> {
    await this.#running('pause').pause();
    this.emit('pause');
  }

  async resume(): Promise<void> {
    await this.#running('resume').resume();
    this.emit('resume');
  }

  /**
   * Graceful (default): presses Ctrl-Alt-Del, which a Linux guest with
   * reboot=k turns into the end of the VM, and stops it anyway after
   * `graceMs` (default 10 s). force: ends it at once. Resolves on exit.
   */
  async stop(options: { force?: boolean; graceMs?: number } = {}): Promise<VmExit> {
    if (this.#state === 'exited') return this.#exit;
    await this.#running('stop').stop(options.force ?? false, options.graceMs);
    return this.#exit;
  }

  /** Presses Ctrl-Alt-Del on the i8042 keyboard, once (Firecracker's SendCtrlAltDel). */
  sendCtrlAltDel(): void {
    this.#running('send Ctrl-Alt-Del to').pressCtrlAltDel();
  }

  /**
   * Gives disk `index` (VmConfig.disks order) a new backing file while the
   * VM runs: the guest is told the new capacity through a virtio
   * configuration change. Rejects, leaving the disk as it was, when the
   * file cannot be opened.
   */
  replaceDisk(index: number, path: string, serial?: string): Promise<void> {
    return this.#running('change a disk of').replaceDisk(index, path, serial);
  }

  /** Exits per vCPU by reason, device counters, host RSS (as tkvm stat). */
  stats(): Promise<VmStats> {
    return this.#running('read the statistics of').stats();
  }
}

/**
 * A VM from the resource model, validated as the HTTP API validates each
 * resource (an invalid definition throws an ApiError with the message the
 * API would answer). Nothing runs until `start()`.
 */
export function createVm(definition: VmDefinition, options: VmOptions = {}): Vm {
  const resources = new VmResources();
  const { logger, metrics } = resources.applyFullConfig(definition);
  if (logger != null || metrics != null) throw new ApiError('ERR_API_UNSUPPORTED', 'createVm takes no logger or metrics: they belong to the process (use tkvm firecracker)');
  return new Vm(resources.toVmConfig(options), options);
}
