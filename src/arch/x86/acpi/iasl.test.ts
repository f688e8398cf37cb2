/**
 * Cross-checks the tables with ACPICA's own tools (Debian package
 * acpica-tools): `iasl -d` disassembles each table, `iasl` recompiles the
 * DSDT source to the same AML, and `acpiexec` loads the tables and
 * evaluates \_S5_ and the _CRS objects. Without the tools the test is
 * skipped, except in CI (CI=true), where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { ACPI_TABLES_START } from './layout.js';
import { SDT_HEADER_SIZE } from './sdt.js';
import { writeAcpiTables, type AcpiTablesOptions } from './tables.js';

function toolAvailable(tool: string): boolean {
  const r = spawnSync(tool, ['-v'], { encoding: 'utf8' });
  return r.error === undefined;
}

const haveTools = toolAvailable('iasl') && toolAvailable('acpiexec');
const skip = !haveTools && process.env.CI !== 'true' ? 'iasl/acpiexec not installed (apt-get install acpica-tools)' : false;

/** Output of ACPICA tools that means a table is malformed. */
const PROBLEM = /error|warning|invalid|incorrect|unknown|\*\*\*\*/i;

function run(tool: string, args: string[], cwd: string): string {
  const r = spawnSync(tool, args, { cwd, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, `${tool} could not run: ${r.error?.message} (install acpica-tools)`);
  const out = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `${tool} ${args.join(' ')} failed:\n${out}`);
  return out;
}

/** Writes the tables and dumps each one into `dir` as <signature>.dat. */
function dumpTables(dir: string, opts: Partial<AcpiTablesOptions>): string[] {
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: 0x100000 }]);
  const result = writeAcpiTables(mem, { cpus: 1, tablesAddr: ACPI_TABLES_START, ...opts });
  return result.tables.map((t) => {
    const file = `${t.signature.toLowerCase()}.dat`;
    writeFileSync(join(dir, file), mem.read(t.addr, t.length));
    return file;
  });
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tkvm-acpi-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const cpus of [1, 2, 8, 64]) {
  test(`iasl disassembles every table for ${cpus} vCPUs without complaint`, { skip }, () => {
    withTempDir((dir) => {
      const files = dumpTables(dir, { cpus, ecamBase: 0xe000_0000 });
      const dsl: Record<string, string> = {};
      for (const file of files) {
        const out = run('iasl', ['-d', file], dir);
        assert.doesNotMatch(out, PROBLEM, `iasl -d ${file}`);
        const sig = file.slice(0, 4);
        dsl[sig] = readFileSync(join(dir, `${sig}.dsl`), 'utf8');
        assert.doesNotMatch(dsl[sig]!, PROBLEM, `${sig}.dsl`);
      }
      assert.equal(count(dsl.xsdt!, 'ACPI Table Address'), 3, 'XSDT: FADT, MADT, MCFG');

      assert.equal(count(dsl.apic!, '[Processor Local APIC]'), cpus);
      assert.equal(count(dsl.apic!, 'Processor Enabled : 1'), cpus);
      assert.equal(count(dsl.apic!, '[I/O APIC]'), 1);
      assert.match(dsl.apic!, new RegExp(`I/O Apic ID : ${cpus.toString(16).toUpperCase().padStart(2, '0')}`));
      assert.equal(count(dsl.apic!, '[Interrupt Source Override]'), 1);
      assert.equal(count(dsl.apic!, '[Local APIC NMI]'), 1);
      assert.match(dsl.apic!, /PC-AT Compatibility : 1/);

      assert.match(dsl.facp!, /Revision : 06/);
      assert.match(dsl.facp!, /Hardware Reduced \(V5\) : 1/);
      assert.match(dsl.facp!, /Sleep Control Register : \[Generic Address Structure\][\s\S]*?Space ID : 01 \[SystemIO\][\s\S]*?Address : 0000000000000600/);
      assert.match(dsl.facp!, /Sleep Status Register : \[Generic Address Structure\][\s\S]*?Space ID : 01 \[SystemIO\][\s\S]*?Address : 0000000000000601/);

      assert.match(dsl.mcfg!, /Base Address : 00000000E0000000/);

      assert.match(dsl.dsdt!, /Name \(_S5, Package \(0x04\)/);
      for (const id of ['PNP0501', 'PNP0303', 'PNP0B00', 'PNP0A08', 'PNP0A03', 'PNP0C02']) assert.match(dsl.dsdt!, new RegExp(`EisaId \\("${id}"\\)`), id);
      assert.match(dsl.dsdt!, /WordBusNumber \(ResourceProducer/);
      assert.match(dsl.dsdt!, /0x00000000C0000000, \/\/ Range Minimum/);
      assert.match(dsl.dsdt!, /0x00000000FEBFFFFF, \/\/ Range Maximum/);
    });
  });
}

test('iasl recompiles the disassembled DSDT to the same AML', { skip }, () => {
  withTempDir((dir) => {
    dumpTables(dir, { cpus: 2, ecamBase: 0xe000_0000 });
    run('iasl', ['-d', 'dsdt.dat'], dir);
    const out = run('iasl', ['-p', 'recompiled', 'dsdt.dsl'], dir);
    assert.match(out, /0 Errors, 0 Warnings, 0 Remarks/);
    const ours = readFileSync(join(dir, 'dsdt.dat')).subarray(SDT_HEADER_SIZE);
    const theirs = readFileSync(join(dir, 'recompiled.aml')).subarray(SDT_HEADER_SIZE);
    assert.equal(Buffer.compare(ours, theirs), 0, 'AML bodies differ');
  });
});

test('acpiexec loads the tables and evaluates \\_S5_ and every _CRS', { skip }, () => {
  withTempDir((dir) => {
    const files = dumpTables(dir, { cpus: 4, ecamBase: 0xe000_0000 }).filter((f) => f !== 'xsdt.dat');
    const commands = ['\\_S5', '\\_SB.COM1._CRS', '\\_SB.PS2K._CRS', '\\_SB.RTC._CRS', '\\_SB.PCI0._CRS', '\\_SB.MRES._CRS'].map((p) => `Evaluate ${p}`).join('; ');
    const out = run('acpiexec', ['-b', commands, ...files], dir);
    assert.doesNotMatch(out, /error|warning|AE_/i);
    assert.match(out, /Evaluating \\_S5\n[\s\S]*?Contains 4 Elements:\n\s*\[Integer\] = 0000000000000005\n\s*\[Integer\] = 0000000000000005/);
    assert.equal(count(out, 'returned object'), 6, out);
  });
});
