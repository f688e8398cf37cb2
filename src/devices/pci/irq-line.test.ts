import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PciConfigSpace } from './config-space.js';
import { PciCommand, PciReg, PciStatus } from './constants.js';
import { PciIntx } from './intx.js';
import { SharedIrqLine, SharedIrqLines } from './irq-line.js';

test('two sources on one line are ORed: the line drops only when neither asserts', () => {
  const driven: boolean[] = [];
  const line = new SharedIrqLine(10, (level) => driven.push(level));
  const a = line.source();
  const b = line.source();
  a.set(true);
  b.set(true);
  a.set(false);
  assert.equal(line.level, true, 'B still asserts');
  assert.deepEqual(driven, [true]);
  b.set(false);
  assert.equal(line.level, false);
  assert.deepEqual(driven, [true, false]);
  // Repeated levels from one source count once.
  a.set(true);
  a.set(true);
  a.set(false);
  assert.deepEqual(driven, [true, false, true, false]);
});

test('SharedIrqLines keeps one line per IRQ', () => {
  const driven: Array<[number, boolean]> = [];
  const lines = new SharedIrqLines((irq, level) => driven.push([irq, level]));
  const a = lines.source(10);
  const b = lines.source(10);
  const c = lines.source(11);
  a.set(true);
  c.set(true);
  b.set(true);
  a.set(false);
  c.set(false);
  assert.deepEqual(driven, [[10, true], [11, true], [11, false]]);
  assert.equal(lines.line(10).level, true);
});

test('PciIntx of two functions on one IRQ: Interrupt Disable on one does not drop the other\'s request', () => {
  const driven: boolean[] = [];
  const line = new SharedIrqLine(5, (level) => driven.push(level));
  const fns = [0, 1].map(() => {
    const config = new PciConfigSpace({ vendorId: 0x1234, deviceId: 1, classCode: 0xff0000, interruptPin: 1, interruptLine: 5 });
    const source = line.source();
    return { config, intx: new PciIntx(config, 5, (level) => source.set(level)) };
  });
  const [a, b] = fns as [typeof fns[0], typeof fns[0]];
  a.intx.request(true);
  b.intx.request(true);
  a.config.write(PciReg.COMMAND, Uint8Array.of(0, PciCommand.INTX_DISABLE >> 8));
  a.intx.update();
  assert.equal(line.level, true);
  assert.ok(a.config.readU16(PciReg.STATUS) & PciStatus.INTERRUPT, 'Interrupt Status still shows the request');
  b.intx.request(false);
  assert.equal(line.level, false);
  assert.deepEqual(driven, [true, false]);
});

test('property: the line is the OR of its sources and the irqchip hears only changes', () => {
  const op = fc.record({ source: fc.integer({ min: 0, max: 3 }), level: fc.boolean() });
  fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 100 }), (n, ops) => {
    let chip = false;
    let changes = 0;
    const line = new SharedIrqLine(11, (level) => {
      assert.notEqual(level, chip, 'the irqchip is told only about changes');
      chip = level;
      changes++;
    });
    const sources = Array.from({ length: n }, () => line.source());
    const levels = new Array<boolean>(n).fill(false);
    for (const o of ops) {
      const i = o.source % n;
      sources[i]!.set(o.level);
      levels[i] = o.level;
      const or = levels.some((l) => l);
      assert.equal(chip, or);
      assert.equal(line.level, or);
      assert.equal(sources[i]!.level, o.level);
    }
    assert.ok(changes <= ops.length);
  }), { numRuns: 500 });
});
