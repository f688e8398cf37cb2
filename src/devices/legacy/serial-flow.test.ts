/**
 * Flow control from the console to the UART (issue 9, defect 4): with a
 * reader that stops taking output, a polling guest driver sees THR stay full
 * and waits, the console holds a bounded number of bytes, and once the reader
 * drains everything arrives in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { CONSOLE_OUTPUT_LIMIT, SerialConsole } from './console.js';
import { SERIAL_FIFO_SIZE, Serial16550 } from './serial.js';

const THR = 0, IER = 1, LSR = 5;
const LSR_THRE = 0x20;

test('a stopped reader throttles the guest (THR stays full); memory stays bounded; output resumes in order', async () => {
  // A reader that takes nothing until released.
  const pending: Array<() => void> = [];
  const received: Buffer[] = [];
  const output = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      received.push(chunk);
      pending.push(done);
    },
  });
  const console = new SerialConsole({ input: new PassThrough(), output, diagnostics: new PassThrough(), exitHookTarget: new EventEmitter(), onQuit: () => {} });
  const uart: Serial16550 = new Serial16550({
    onOutput: (b) => console.output(b), setIrqLevel: () => {},
    outputBlocked: () => console.outputBlocked(),
    onOutputBlocked: () => console.whenOutputDrained(() => uart.transmitterReady()),
  });
  const rd = (reg: number): number => {
    const d = new Uint8Array(1);
    uart.read(reg, d);
    return d[0]!;
  };
  const wr = (reg: number, value: number): void => uart.write(reg, Uint8Array.of(value));
  wr(IER, 0x02);

  // A polling guest driver: wait for THRE, then write; 1 MiB of a counting pattern.
  const TOTAL = 1 << 20;
  let sent = 0;
  let polls = 0;
  const drive = async (budget: number): Promise<void> => {
    for (let i = 0; i < budget && sent < TOTAL; i++) {
      if ((rd(LSR) & LSR_THRE) === 0) {
        polls++;
        if (polls % 64 === 0) await tick(); // the guest spins; the host's event loop runs meanwhile
        continue;
      }
      wr(THR, sent & 0xff);
      sent++;
      if (sent % 4096 === 0) await tick();
    }
  };
  await drive(TOTAL * 2);
  assert.ok(sent < TOTAL, 'the guest was throttled');
  assert.equal(rd(LSR) & LSR_THRE, 0, 'THR reads full while the reader is stopped');
  assert.ok(sent <= CONSOLE_OUTPUT_LIMIT + 16 * 1024 + SERIAL_FIFO_SIZE + 4096, `the console took ${sent} bytes with none written`);
  assert.ok(output.writableLength <= CONSOLE_OUTPUT_LIMIT + 4096, `the stream holds ${output.writableLength} bytes`);
  assert.equal(uart.transmitOverruns, 0, 'a driver that honours THRE loses nothing');

  // The reader drains: the guest goes on to the end.
  while (sent < TOTAL || pending.length > 0) {
    for (const done of pending.splice(0)) done();
    await tick();
    await drive(1 << 16);
    console.flush();
  }
  const all = Buffer.concat(received);
  assert.equal(all.length, TOTAL);
  for (let i = 0; i < TOTAL; i += 997) assert.equal(all[i], i & 0xff, `byte ${i} in order`);
  console.restore();
});
