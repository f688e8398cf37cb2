/**
 * `tkvm debug NAME [--nmi CPU] [--sysrq KEY]`: dump every vCPU's registers
 * (like `lkvm debug`), or inject an NMI / a magic SysRq key instead.
 */
import type { Command } from '../command.js';
import { callVm } from '../../control/client.js';
import { clientOptions, oneVmName, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';
import { renderDebug } from '../../control/format.js';
import { MAX_VCPU_INDEX, SYSRQ_KEY_PATTERN } from '../../control/protocol.js';
import { UsageError } from '../../util/errors.js';

const usage = `usage: tkvm debug NAME [--json] [--nmi CPU] [--sysrq KEY]

Prints, for each vCPU, the general-purpose registers, segment registers,
control registers and the code bytes at RIP.

  --json       print the raw JSON instead
  --nmi CPU    inject a non-maskable interrupt into vCPU CPU instead
  --sysrq KEY  send the magic SysRq key KEY (e.g. t: task dump, w: blocked
               tasks) to the guest instead; see Linux's admin-guide/sysrq`;

function parseCpu(text: string): number {
  if (!/^\d{1,4}$/.test(text) || Number(text) > MAX_VCPU_INDEX) {
    throw new UsageError(`debug: --nmi needs a vCPU index (0-${MAX_VCPU_INDEX}), not ${JSON.stringify(text)}`);
  }
  return Number(text);
}

export function makeDebugCommand(io: CommandIo = processIo): Command {
  return {
    name: 'debug',
    summary: "show a VM's vCPU registers, or inject an NMI or SysRq key",
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { values, positionals } = parseFlags(
          argv,
          { json: { type: 'boolean' }, nmi: { type: 'string' }, sysrq: { type: 'string' } },
          true,
        );
        const name = oneVmName(positionals, 'debug');
        const cpu = values.nmi === undefined ? undefined : parseCpu(values.nmi);
        const key = values.sysrq;
        if (key !== undefined && !SYSRQ_KEY_PATTERN.test(key)) {
          throw new UsageError(`debug: --sysrq needs one lowercase letter or digit, not ${JSON.stringify(key)}`);
        }
        if (cpu !== undefined || key !== undefined) {
          if (cpu !== undefined) {
            await callVm(name, 'nmi', { cpu }, clientOptions(io));
            io.stdout(`${name}: NMI injected into vCPU ${cpu}\n`);
          }
          if (key !== undefined) {
            await callVm(name, 'sysrq', { key }, clientOptions(io));
            io.stdout(`${name}: SysRq ${key} sent\n`);
          }
          return 0;
        }
        const vcpus = await callVm(name, 'debug', {}, clientOptions(io));
        io.stdout(values.json ? JSON.stringify(vcpus, null, 2) + '\n' : renderDebug(vcpus));
        return 0;
      }),
  };
}

export const debugCommand: Command = makeDebugCommand();
