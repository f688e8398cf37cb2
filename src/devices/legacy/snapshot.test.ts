/**
 * Saved state of the legacy devices (docs/snapshot.md): a device restored
 * from it reads back as the one saved; a hostile saved state is refused
 * with ERR_SNAPSHOT_MALFORMED and never crashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SavedStateError } from '../../util/saved-state.js';
import { CmosRtc } from './rtc.js';
import { I8042 } from './i8042.js';
import { Serial16550 } from './serial.js';

const write = (d: { write(o: number, b: Uint8Array): void }, offset: number, value: number): void => d.write(offset, Uint8Array.of(value));
const read = (d: { read(o: number, b: Uint8Array): void }, offset: number): number => {
  const b = new Uint8Array(1);
  d.read(offset, b);
  return b[0]!;
};

function serial(out: number[] = []): Serial16550 {
  return new Serial16550({ onOutput: (b) => out.push(b), setIrqLevel: () => {} });
}

test('serial: registers, divisor and the receive FIFO survive; untaken output goes out on restore', () => {
  const a = serial();
  write(a, 3, 0x80); // DLAB
  write(a, 0, 0x01);
  write(a, 1, 0x00);
  write(a, 3, 0x03); // 8N1
  write(a, 2, 0xc7); // FIFOs on, trigger 14
  write(a, 1, 0x01); // RDA interrupt
  write(a, 7, 0x5a);
  a.enqueueInput(new TextEncoder().encode('hey'));
  const saved = JSON.parse(JSON.stringify({ ...a.saveState(), tx: [0x6f, 0x6b] }));
  const out: number[] = [];
  const b = serial(out);
  b.restoreState(saved);
  assert.deepEqual(b.peekRegisters(), a.peekRegisters());
  assert.equal(read(b, 7), 0x5a);
  assert.equal(String.fromCharCode(read(b, 0), read(b, 0), read(b, 0)), 'hey');
  assert.deepEqual(out, [0x6f, 0x6b]);
  write(b, 3, 0x83);
  assert.equal(read(b, 0), 0x01, 'divisor latch kept');
});

test('i8042 and rtc: state survives a save and restore', () => {
  const a = new I8042({ setIrqLevel: () => {}, onReset: () => {} });
  a.commandPort.write(0, Uint8Array.of(0x60)); // write command byte
  a.dataPort.write(0, Uint8Array.of(0x45));
  const b = new I8042({ setIrqLevel: () => {}, onReset: () => {} });
  b.restoreState(JSON.parse(JSON.stringify(a.saveState())));
  assert.equal(b.commandByte, 0x45);

  const clock = { now: 1_700_000_000_000 };
  const rtcA = new CmosRtc({ memBytes: 64 << 20, now: () => clock.now });
  write(rtcA, 0, 0x0b);
  write(rtcA, 1, 0x06); // binary, 24 h
  write(rtcA, 0, 0x40);
  write(rtcA, 1, 0x99); // a CMOS byte the guest keeps
  const rtcB = new CmosRtc({ memBytes: 0, now: () => clock.now + 5000 });
  rtcB.restoreState(JSON.parse(JSON.stringify(rtcA.saveState())));
  write(rtcB, 0, 0x40);
  assert.equal(read(rtcB, 1), 0x99);
  assert.equal(rtcB.guestTimeMs() - rtcA.guestTimeMs(), 5000, 'the RTC runs on host time: a restored guest reads the time of now');
});

/** Every field of a saved state replaced by hostile values: SavedStateError or success, nothing else. */
function hostileProperty(saved: unknown, restore: (state: unknown) => void): void {
  const keys = Object.keys(saved as object);
  const hostile = fc.oneof(fc.anything(), fc.integer(), fc.double(), fc.constantFrom(-1, 2 ** 31, 2 ** 53, null, [], {}, 'AAAA', [1e9], Array(40).fill(255)));
  fc.assert(fc.property(fc.constantFrom(...keys), hostile, (key, value) => {
    try {
      restore({ ...(saved as object), [key]: value });
    } catch (err) {
      assert.ok(err instanceof SavedStateError, `${key} = ${JSON.stringify(value)}: ${(err as Error).stack}`);
    }
  }), { numRuns: 300 });
}

test('hostile saved state for serial, i8042 and rtc is refused with a typed error', () => {
  hostileProperty(JSON.parse(JSON.stringify(serial().saveState())), (s) => serial().restoreState(s));
  hostileProperty(JSON.parse(JSON.stringify(serial().saveState().registers)), (r) => serial().restoreState({ registers: r, rx: [], tx: [] }));
  const i8042 = (): I8042 => new I8042({ setIrqLevel: () => {}, onReset: () => {} });
  hostileProperty(JSON.parse(JSON.stringify(i8042().saveState())), (s) => i8042().restoreState(s));
  const rtc = (): CmosRtc => new CmosRtc({ memBytes: 64 << 20 });
  hostileProperty(JSON.parse(JSON.stringify(rtc().saveState())), (s) => rtc().restoreState(s));
});
