import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcpiSleepControl } from './acpi-sleep.js';
import { S5_SLEEP_TYPE, SLP_EN, ACPI_RESET_VALUE } from '../../arch/x86/acpi/sleep-control.js';

test('S5 with SLP_EN powers off, the reset value resets, anything else is ignored', () => {
  const events: string[] = [];
  const dev = new AcpiSleepControl({ onPowerOff: () => events.push('off'), onReset: () => events.push('reset') });
  dev.write(0, Uint8Array.of((S5_SLEEP_TYPE << 2) | SLP_EN));
  dev.write(0, Uint8Array.of(ACPI_RESET_VALUE));
  dev.write(0, Uint8Array.of(S5_SLEEP_TYPE << 2)); // no SLP_EN
  dev.write(1, Uint8Array.of(0x80)); // status register write (wake status clear)
  assert.deepEqual(events, ['off', 'reset']);
  const data = Uint8Array.of(0xff);
  dev.read(1, data);
  assert.equal(data[0], 0);
});
