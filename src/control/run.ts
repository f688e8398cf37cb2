/**
 * `tkvm run`: builds a Machine from a VmConfig, serves its control socket
 * while it runs, runs it to the end and returns the exit status. It lives
 * in control/, above vmm/, because it wires the two together.
 */
import { writeSync } from 'node:fs';
import type { VmConfig } from '../vmm/config.js';
import { Machine } from '../vmm/machine.js';
import type { LoadedSnapshot } from '../vmm/snapshot/restore.js';
import * as log from '../util/log.js';
import { timingMarks } from '../util/timing.js';
import { ControlServer } from './server.js';
import { defaultVmName } from './paths.js';

export async function runVm(config: VmConfig, opts: { restore?: LoadedSnapshot } = {}): Promise<number> {
  if (config.logLevel) log.setLogLevel(config.logLevel);
  const name = config.name ?? defaultVmName();
  const machine = new Machine({ ...config, name }, opts.restore ? { restore: opts.restore } : {});
  let control: ControlServer | undefined;
  let result;
  try {
    // The name is claimed before the VM is built: a second VM with the same name fails fast.
    result = await machine.run(async () => {
      control = await ControlServer.start({ name, controller: machine });
    });
  } finally {
    await control?.close();
  }
  const { status, reason, clean } = result;
  if (clean) log.info(reason);
  else log.error(reason);
  if (config.reportTiming) {
    // cpuMs: user + system CPU time of the whole process (every thread). On PVM hosts the
    // emulated guest kernel shows up there, and it varies less with host load than wall time.
    const cpu = process.cpuUsage();
    const report = { tkvmTiming: { startToFirstRunMs: machine.startToFirstRunMs(), marksMs: timingMarks(), status, exits: machine.exitCounts(), cpuMs: Math.round((cpu.user + cpu.system) / 1000) } };
    writeSync(2, `${JSON.stringify(report)}\n`);
  }
  return status;
}
