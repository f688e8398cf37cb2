import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pvpanic, pvpanicAml, PVPANIC_PANICKED, PVPANIC_CRASH_LOADED } from './pvpanic.js';

test('pvpanic reports its events and signals a panic', () => {
  const events: string[] = [];
  const dev = new Pvpanic({ onPanic: (e) => events.push(e) });
  const data = new Uint8Array(1);
  dev.read(0, data);
  assert.equal(data[0], PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
  dev.write(0, Uint8Array.of(0));
  dev.write(0, Uint8Array.of(PVPANIC_PANICKED));
  dev.write(0, Uint8Array.of(PVPANIC_CRASH_LOADED));
  assert.deepEqual(events, ['panicked', 'crash-loaded']);
});

test('the DSDT device carries the QEMU0001 string _HID and an I/O resource at 0x505', () => {
  const bytes = pvpanicAml();
  const text = Buffer.from(bytes).toString('latin1');
  assert.ok(text.includes('PEVT'));
  assert.ok(text.includes('\x0dQEMU0001\x00'));
  // IO descriptor (ACPI 6.5, 6.4.2.5): 0x47, decode16, min 0x505, max 0x505, align 1, length 1
  assert.ok(text.includes('\x47\x01\x05\x05\x05\x05\x01\x01'));
});
