/**
 * One Firecracker-style instance: the resource model before boot, the
 * running Vm after InstanceStart, and the process-wide logger and metrics.
 * Every API operation is a method here that enforces Firecracker's
 * pre-boot-only and post-boot-only rules; the HTTP server (http-server.ts)
 * and the config file only call them.
 */
import { closeSync, writeSync } from 'node:fs';
import * as log from '../util/log.js';
import { ApiError, notAfterBoot, notBeforeBoot } from './errors.js';
import { parseBody } from './schema.js';
import { Vm, type VmExit, type VmOptions } from './vm.js';
import { VmResources } from './vm-resources.js';
import { FIRECRACKER_API_VERSION, Vm as VmStateSchema, type InstanceInfoBody, type InstanceStateName } from './resources/vm-state.js';
import { InstanceActionInfo } from './resources/actions.js';
import { Logger, logThreshold, openOutputFile, type LoggerBody } from './resources/logger.js';
import { Metrics, METRICS_PERIOD_MS, type MetricsBody } from './resources/metrics.js';
import { checkDiskFile, deviceId, driveOrder, PartialDrive } from './resources/drives.js';
import { acceptNetworkInterfaceUpdate, PartialNetworkInterface } from './resources/network-interfaces.js';
import { refuseSnapshot, SnapshotCreateParams, SnapshotLoadParams } from './resources/snapshot.js';
import { acceptVsock, Vsock } from './resources/vsock.js';
import { Balloon, BalloonStatsUpdate, BalloonUpdate, refuseBalloon } from './resources/balloon.js';
import type { FullVmConfigurationBody } from './resources/full-config.js';
import { unsupported } from './errors.js';

export interface InstanceOptions {
  /** The instance ID (--id); GET / reports it. */
  id: string;
  /** tkvm's own choices for the VM (its name, debug-exit). */
  vm?: VmOptions;
  /** Called once when the running VM ends. */
  onExit?: (exit: VmExit) => void;
}

/** Firecracker's --id default. */
export const DEFAULT_INSTANCE_ID = 'anonymous-instance';

export class Instance {
  readonly id: string;
  readonly resources = new VmResources();
  readonly #vmOptions: VmOptions;
  readonly #onExit: ((exit: VmExit) => void) | undefined;
  #vm: Vm | undefined;
  #starting = false;
  #logger: LoggerBody | undefined;
  #loggerFd: number | undefined;
  #metrics: MetricsBody | undefined;
  #metricsFd: number | undefined;
  #metricsTimer: NodeJS.Timeout | undefined;

  constructor(options: InstanceOptions) {
    this.id = options.id;
    this.#vmOptions = options.vm ?? {};
    this.#onExit = options.onExit;
  }

  /** The running (or ended) VM, once InstanceStart succeeded. */
  get vm(): Vm | undefined {
    return this.#vm;
  }

  get started(): boolean {
    return this.#vm !== undefined || this.#starting;
  }

  state(): InstanceStateName {
    const vm = this.#vm;
    if (!vm) return 'Not started';
    return vm.state === 'paused' ? 'Paused' : 'Running';
  }

  info(): InstanceInfoBody {
    return { id: this.id, state: this.state(), vmm_version: FIRECRACKER_API_VERSION, app_name: 'tkvm' };
  }

  #preBoot(): void {
    if (this.started) throw notAfterBoot();
  }

  #postBoot(): Vm {
    if (!this.#vm) throw notBeforeBoot();
    return this.#vm;
  }

  getMachineConfig(): unknown {
    return { ...this.resources.machineConfig };
  }

  putMachineConfig(body: unknown): void {
    this.#preBoot();
    this.resources.putMachineConfig(body);
  }

  patchMachineConfig(body: unknown): void {
    this.#preBoot();
    this.resources.patchMachineConfig(body);
  }

  putBootSource(body: unknown): void {
    this.#preBoot();
    this.resources.putBootSource(body);
  }

  putDrive(id: string, body: unknown): void {
    this.#preBoot();
    this.resources.putDrive(id, body);
  }

  /**
   * PATCH /drives/{id}: a new backing file (Firecracker's UpdateBlockDevice).
   * After boot the running device re-opens it (the same path again reads
   * its size anew) and the guest is told the new capacity through a virtio
   * configuration change; before boot the drive's path_on_host changes
   * (Firecracker answers 400 there; tkvm allows it). The file is checked
   * first, as PUT checks it.
   */
  async patchDrive(id: string, body: unknown): Promise<void> {
    const update = parseBody(PartialDrive, body, `drive ${id}`);
    if (update.drive_id !== id) throw new ApiError('ERR_API_ID_MISMATCH', 'The id from the path does not match the id from the body!');
    const drive = this.resources.drives.get(id);
    if (!drive) throw new ApiError('ERR_API_NO_DRIVE', `Invalid block device ID: ${id}`);
    if (update.rate_limiter && (update.rate_limiter.bandwidth || update.rate_limiter.ops)) throw unsupported(`rate limiters (drive ${id})`);
    const path = update.path_on_host;
    if (path == null) return;
    if (this.#starting) throw new ApiError('ERR_API_STARTING', 'The microVM is starting; PATCH the drive once it runs.');
    checkDiskFile(path, drive.is_read_only ?? false);
    const vm = this.#vm;
    if (vm) {
      const index = driveOrder([...this.resources.drives.values()]).findIndex((d) => d.drive_id === id);
      try {
        await vm.replaceDisk(index, path, deviceId(path));
      } catch (err) {
        throw new ApiError('ERR_API_DRIVE_UPDATE', `Unable to patch the block device ${id}: ${(err as Error).message}`);
      }
    }
    this.resources.drives.set(id, { ...drive, path_on_host: path });
  }

  putNetworkInterface(id: string, body: unknown): void {
    this.#preBoot();
    this.resources.putNetworkInterface(id, body);
  }

  patchNetworkInterface(id: string, body: unknown): void {
    const update = parseBody(PartialNetworkInterface, body, `network interface ${id}`);
    this.#postBoot();
    acceptNetworkInterfaceUpdate(update, id);
    if (!this.resources.interfaces.has(id)) throw new ApiError('ERR_API_NO_NIC', `Invalid network interface ID: ${id}`);
  }

  putEntropy(body: unknown): void {
    this.#preBoot();
    this.resources.putEntropy(body);
  }

  putVsock(body: unknown): void {
    acceptVsock(parseBody(Vsock, body, 'vsock'));
  }

  putBalloon(body: unknown): void {
    parseBody(Balloon, body, 'balloon');
    refuseBalloon();
  }

  patchBalloon(body: unknown): void {
    parseBody(BalloonUpdate, body, 'balloon');
    refuseBalloon();
  }

  patchBalloonStatistics(body: unknown): void {
    parseBody(BalloonStatsUpdate, body, 'balloon statistics');
    refuseBalloon();
  }

  createSnapshot(body: unknown): void {
    parseBody(SnapshotCreateParams, body, 'snapshot create parameters');
    refuseSnapshot();
  }

  loadSnapshot(body: unknown): void {
    parseBody(SnapshotLoadParams, body, 'snapshot load parameters');
    refuseSnapshot();
  }

  /** PUT /logger: level and destination of tkvm's operator log lines (pre-boot only). */
  putLogger(body: unknown): void {
    const logger = parseBody(Logger, body, 'logger');
    this.#preBoot();
    this.configureLogger(logger);
  }

  /** Also used for --level and --log-path. */
  configureLogger(logger: LoggerBody): void {
    if (logger.log_path != null) {
      const fd = openOutputFile(logger.log_path, 'log_path');
      if (this.#loggerFd !== undefined) closeSync(this.#loggerFd);
      this.#loggerFd = fd;
      log.setLogFd(fd);
    }
    if (logger.level != null) log.setLogLevel(logThreshold(logger.level));
    this.#logger = { ...this.#logger, ...logger };
  }

  /** PUT /metrics: where the metrics lines go; once only, pre-boot. */
  putMetrics(body: unknown): void {
    const metrics = parseBody(Metrics, body, 'metrics');
    this.#preBoot();
    this.configureMetrics(metrics);
  }

  configureMetrics(metrics: MetricsBody): void {
    if (this.#metrics) throw new ApiError('ERR_API_METRICS_SET', 'Reinitialization of metrics not allowed.');
    this.#metricsFd = openOutputFile(metrics.metrics_path, 'metrics_path');
    this.#metrics = metrics;
  }

  /** One JSON line of tkvm's counters to the metrics file. */
  async flushMetrics(): Promise<void> {
    const fd = this.#metricsFd;
    if (fd === undefined) throw new ApiError('ERR_API_NO_METRICS', 'The metrics system is not initialized (PUT /metrics first).');
    const vm = this.#vm;
    const line: Record<string, unknown> = { utc_timestamp_ms: Date.now(), state: this.state() };
    if (vm && vm.state !== 'exited') Object.assign(line, await vm.stats());
    try {
      writeSync(fd, `${JSON.stringify(line)}\n`);
    } catch (err) {
      throw new ApiError('ERR_API_METRICS_WRITE', `Cannot write the metrics: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  async action(body: unknown): Promise<void> {
    const { action_type } = parseBody(InstanceActionInfo, body, 'action');
    switch (action_type) {
      case 'InstanceStart':
        return this.start();
      case 'SendCtrlAltDel':
        this.#postBoot().sendCtrlAltDel();
        return;
      case 'FlushMetrics':
        return this.flushMetrics();
    }
  }

  /** InstanceStart: builds the VM from the model and starts it; resolves once it runs. */
  async start(): Promise<void> {
    this.#preBoot();
    const config = this.resources.toVmConfig(this.#vmOptions);
    this.#starting = true;
    const vm = new Vm(config, { ...this.#vmOptions, console: this.#vmOptions.console ?? 'inherit' });
    try {
      await vm.start();
    } catch (err) {
      throw new ApiError('ERR_API_START_FAILED', `Failed to start the microVM: ${(err as Error).message}`);
    } finally {
      this.#starting = false;
    }
    this.#vm = vm;
    if (this.#metricsFd !== undefined) {
      this.#metricsTimer = setInterval(() => { this.flushMetrics().catch((err: Error) => log.warn(err.message)); }, METRICS_PERIOD_MS);
      this.#metricsTimer.unref();
    }
    void vm.wait().then((exit) => {
      if (this.#metricsTimer) clearInterval(this.#metricsTimer);
      this.#onExit?.(exit);
    });
  }

  /** PATCH /vm: Paused or Resumed (post-boot only). */
  async patchVm(body: unknown): Promise<void> {
    const { state } = parseBody(VmStateSchema, body, 'vm state');
    const vm = this.#postBoot();
    if (state === 'Paused') await vm.pause();
    else await vm.resume();
  }

  /** GET /vm/config: every configured resource. */
  exportConfig(): FullVmConfigurationBody {
    return {
      ...this.resources.exportConfig(),
      ...(this.#logger ? { logger: { ...this.#logger } } : {}),
      ...(this.#metrics ? { metrics: { ...this.#metrics } } : {}),
    };
  }

  /** --config-file: every resource, then the logger and metrics; the caller starts the VM. */
  applyConfigFile(body: unknown): void {
    this.#preBoot();
    const { logger, metrics } = this.resources.applyFullConfig(body);
    if (logger != null) this.configureLogger(logger);
    if (metrics != null) this.configureMetrics(metrics);
  }

  /** Closes the logger and metrics files. */
  close(): void {
    if (this.#metricsTimer) clearInterval(this.#metricsTimer);
    if (this.#metricsFd !== undefined) closeSync(this.#metricsFd);
    this.#metricsFd = undefined;
    if (this.#loggerFd !== undefined) {
      log.setLogFd(2);
      closeSync(this.#loggerFd);
      this.#loggerFd = undefined;
    }
  }
}
