/**
 * Property tests: hostile guests. Random sequences of port accesses (any
 * offset, including past the device, any width, any value) mixed with host
 * events never throw and keep each device's invariants.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Serial16550, SERIAL_FIFO_SIZE } from './serial.js';
import { I8042 } from './i8042.js';
import { CmosRtc } from './rtc.js';
import { DebugExit } from './debug-exit.js';

type Access = { kind: 'read' | 'write'; offset: number; width: number; value: Uint8Array };

function accessArb(maxOffset: number): fc.Arbitrary<Access> {
  return fc
    .record({
      kind: fc.constantFrom('read' as const, 'write' as const),
      offset: fc.integer({ min: 0, max: maxOffset }),
      width: fc.constantFrom(1, 1, 1, 2, 4, 8),
      bytes: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    })
    .map(({ kind, offset, width, bytes }) => ({ kind, offset, width, value: bytes.subarray(0, width) }));
}

/** Applies an access to a device; reads fill a fresh buffer of the access width. */
function apply(device: { read(o: number, d: Uint8Array): void; write(o: number, d: Uint8Array): void }, a: Access): void {
  if (a.kind === 'read') device.read(a.offset, new Uint8Array(a.width));
  else device.write(a.offset, a.value);
}

/** Biases values toward the registers' interesting bits for the UART (loopback, DLAB, FIFO enable). */
const serialStep = fc.oneof(
  { weight: 8, arbitrary: accessArb(9).map((a) => ({ type: 'access' as const, a })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }).map((bytes) => ({ type: 'input' as const, bytes })) },
  { weight: 1, arbitrary: fc.constant({ type: 'break' as const }) },
);

test('serial: any access sequence keeps the IRQ line equal to "an enabled interrupt is pending"', () => {
  fc.assert(
    fc.property(fc.array(serialStep, { maxLength: 200 }), (steps) => {
      const irqCalls: boolean[] = [];
      let outputs = 0;
      const uart = new Serial16550({ onOutput: () => outputs++, setIrqLevel: (l) => irqCalls.push(l) });
      for (const step of steps) {
        if (step.type === 'access') apply(uart, step.a);
        else if (step.type === 'input') uart.enqueueInput(step.bytes);
        else uart.sendBreak();

        const regs = uart.peekRegisters();
        const reported = irqCalls.at(-1) ?? false;
        assert.equal(reported, (regs.iir & 0x01) === 0, 'IRQ level follows IIR');
        assert.equal(regs.irqLevel, reported);
        assert.ok(regs.rxCount >= 0 && regs.rxCount <= SERIAL_FIFO_SIZE);
        assert.equal(regs.lsr & 0x60, 0x60, 'transmitter always empty');
        assert.equal((regs.lsr & 0x01) === 1, regs.rxCount > 0, 'DR iff data');
        assert.equal(regs.ier & 0xf0, 0);
        if (regs.ier & 0x01 && regs.rxCount > 0) assert.equal(reported, true, 'enabled data interrupt pending');
      }
      for (let i = 1; i < irqCalls.length; i++) assert.notEqual(irqCalls[i], irqCalls[i - 1], 'called only on change');
      assert.equal(uart.stats().bytesOut, outputs);
    }),
    { numRuns: 300 },
  );
});

const i8042Step = fc.oneof(
  { weight: 8, arbitrary: fc.record({ port: fc.constantFrom('data' as const, 'command' as const), a: accessArb(2) }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20 }).map((bytes) => ({ port: 'scancodes' as const, bytes })) },
);

test('i8042: any access sequence never throws and IRQ 1 tracks the output buffer', () => {
  fc.assert(
    fc.property(fc.array(i8042Step, { maxLength: 200 }), (steps) => {
      const irqCalls: boolean[] = [];
      let resets = 0;
      const kbc = new I8042({ setIrqLevel: (l) => irqCalls.push(l), onReset: () => resets++ });
      const status = () => {
        const d = new Uint8Array(1);
        kbc.commandPort.read(0, d);
        return d[0]!;
      };
      for (const step of steps) {
        if (step.port === 'scancodes') kbc.enqueueScancodes(step.bytes);
        else apply(step.port === 'data' ? kbc.dataPort : kbc.commandPort, step.a);
        const s = status();
        const reported = irqCalls.at(-1) ?? false;
        assert.equal(kbc.irqLevel, reported);
        assert.equal(s & 0x02, 0, 'input buffer never full');
        const expected = (s & 0x01) !== 0 && (s & 0x20) === 0 && (kbc.commandByte & 0x01) !== 0;
        assert.equal(reported, expected, 'IRQ 1 = OBF with keyboard data and CTR interrupt enabled');
      }
      for (let i = 1; i < irqCalls.length; i++) assert.notEqual(irqCalls[i], irqCalls[i - 1]);
      assert.equal(kbc.stats().resets, resets);
    }),
    { numRuns: 300 },
  );
});

test('i8042: the output buffer always drains within 16 + 16 reads', () => {
  fc.assert(
    fc.property(fc.array(i8042Step, { maxLength: 100 }), (steps) => {
      const kbc = new I8042({ setIrqLevel: () => {}, onReset: () => {} });
      for (const step of steps) {
        if (step.port === 'scancodes') kbc.enqueueScancodes(step.bytes);
        else apply(step.port === 'data' ? kbc.dataPort : kbc.commandPort, step.a);
      }
      const d = new Uint8Array(1);
      let reads = 0;
      for (;;) {
        kbc.commandPort.read(0, d);
        if (!(d[0]! & 1)) break;
        kbc.dataPort.read(0, d);
        assert.ok(++reads <= 32, 'output buffer never empties');
      }
    }),
  );
});

test('rtc: any access sequence never throws; in BCD mode time registers read valid BCD', () => {
  fc.assert(
    fc.property(
      fc.array(accessArb(2), { maxLength: 200 }),
      fc.integer({ min: 0, max: Date.UTC(2199, 11, 31) }),
      fc.nat({ max: 1 << 40 }),
      (accesses, startMs, memBytes) => {
        const rtc = new CmosRtc({ memBytes, now: () => startMs });
        const readReg = (index: number) => {
          rtc.write(0, Uint8Array.of(index));
          const d = new Uint8Array(1);
          rtc.read(1, d);
          return d[0]!;
        };
        for (const a of accesses) apply(rtc, a);
        assert.ok(Number.isFinite(rtc.guestTimeMs()));
        assert.equal(readReg(0x0a) & 0x80, 0, 'UIP never set');
        assert.equal(readReg(0x0d), 0x80);
        const statusB = readReg(0x0b);
        if (!(statusB & 0x04)) {
          for (const index of [0x00, 0x02, 0x07, 0x08, 0x09, 0x32]) {
            const v = readReg(index);
            assert.ok((v & 0x0f) <= 9 && v >> 4 <= 9, `register 0x${index.toString(16)} = 0x${v.toString(16)} is BCD`);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('debug-exit: every write yields an odd status, reads are 0xff', () => {
  fc.assert(
    fc.property(fc.array(accessArb(3), { maxLength: 50 }), (accesses) => {
      const statuses: number[] = [];
      const dev = new DebugExit({ onExit: (s) => statuses.push(s) });
      for (const a of accesses) {
        if (a.kind === 'read') {
          const d = new Uint8Array(a.width);
          dev.read(a.offset, d);
          assert.ok(d.every((b) => b === 0xff));
        } else {
          dev.write(a.offset, a.value);
        }
      }
      assert.equal(statuses.length, accesses.filter((a) => a.kind === 'write').length);
      for (const s of statuses) assert.ok(Number.isSafeInteger(s) && s % 2 === 1 && s > 0);
    }),
  );
});
