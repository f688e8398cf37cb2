/** Symbol tables from ELF files and System.map, checked against binutils' nm. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadSymbols, parseElfSymbols, parseSystemMap, SymbolTable } from './symbols.js';
import { guestPath } from '../testing/kvm.js';

test('every function nm lists in a test guest ELF resolves to its name (or an alias at its address)', () => {
  const elf = guestPath('counter');
  const nm = execFileSync('nm', ['--defined-only', elf], { encoding: 'utf8' });
  const functions = nm.split('\n').map((l) => /^([0-9a-f]{16}) [tT] (\S+)$/.exec(l)).filter((m) => m !== null);
  assert.ok(functions.length > 10, `nm found ${functions.length} functions`);
  const table = loadSymbols(elf);
  const byAddress = new Map<string, string[]>();
  for (const m of functions) byAddress.set(m[1]!, [...(byAddress.get(m[1]!) ?? []), m[2]!]);
  for (const [address, names] of byAddress) {
    const found = table.nameOf(BigInt(`0x${address}`));
    assert.ok(found !== null && names.includes(found), `0x${address}: ${found} not in ${names.join(',')}`);
  }
  const main = functions.find((m) => m[2] === 'guest_main');
  assert.ok(main);
  assert.equal(table.lookup(BigInt(`0x${main[1]}`) + 5n)?.symbol.name, 'guest_main');
  assert.equal(table.lookup(BigInt(`0x${main[1]}`) + 5n)?.offset, 5n);
});

test('a sized ELF symbol ends at its size; an unsized one runs up to the next', () => {
  const table = new SymbolTable([
    { address: 0x1000n, size: 0x10n, name: 'sized' },
    { address: 0x2000n, size: 0n, name: 'label' },
    { address: 0x3000n, size: 0x8n, name: 'last' },
  ]);
  assert.equal(table.nameOf(0x100fn), 'sized');
  assert.equal(table.nameOf(0x1010n), null);
  assert.equal(table.nameOf(0x2fffn), 'label');
  assert.equal(table.nameOf(0xfffn), null);
  assert.equal(table.nameOf(0x3008n), null);
});

test('System.map: text symbols only, 64-bit addresses exact', () => {
  const symbols = parseSystemMap('ffffffff81000000 T _stext\nffffffff82000000 D jiffies\nffffffff81ffffff t edge\nnot a line\n');
  assert.deepEqual(symbols.map((s) => [s.address.toString(16), s.name]), [['ffffffff81000000', '_stext'], ['ffffffff81ffffff', 'edge']]);
});

test('files that are not symbol files fail with one ERR_SYMBOLS line', () => {
  assert.throws(() => parseElfSymbols(new Uint8Array(10)), { code: 'ERR_SYMBOLS', message: /too short/ });
  const elf = new Uint8Array(readFileSync(guestPath('counter')));
  assert.throws(() => parseElfSymbols(elf.subarray(0, 200)), { code: 'ERR_SYMBOLS', message: /out of range/ });
  assert.throws(() => loadSymbols('/etc/hostname'), { code: 'ERR_SYMBOLS', message: /neither an ELF file nor a System.map/ });
});
