import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serial16550 } from './serial.js';

const THR = 0, RBR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

function makeUart() {
  const output: number[] = [];
  const irqCalls: boolean[] = [];
  let inputSpaceCalls = 0;
  const uart = new Serial16550({
    onOutput: (b) => output.push(b),
    setIrqLevel: (l) => irqCalls.push(l),
    onInputSpace: () => inputSpaceCalls++,
  });
  const rd = (reg: number): number => {
    const d = new Uint8Array(1);
    uart.read(reg, d);
    return d[0]!;
  };
  const wr = (reg: number, value: number): void => uart.write(reg, Uint8Array.of(value));
  return {
    uart,
    output,
    irqCalls,
    rd,
    wr,
    get irq() {
      return irqCalls.at(-1) ?? false;
    },
    get inputSpaceCalls() {
      return inputSpaceCalls;
    },
  };
}

test('THR writes go to onOutput in order and are counted', () => {
  const u = makeUart();
  for (const b of Buffer.from('hi\n')) u.wr(THR, b);
  assert.deepEqual(u.output, [0x68, 0x69, 0x0a]);
  assert.equal(u.uart.stats().bytesOut, 3);
  assert.equal(u.rd(LSR) & 0x60, 0x60, 'THRE and TEMT stay set');
  assert.deepEqual(u.irqCalls, [], 'no interrupt without IER');
});

test('THRE interrupt: raised when IER enables it, cleared by IIR read, re-raised by a THR write', () => {
  const u = makeUart();
  assert.equal(u.rd(IIR), 0x01);
  u.wr(IER, 0x02);
  assert.equal(u.irq, true);
  assert.equal(u.rd(IIR), 0x02);
  assert.equal(u.irq, false, 'reading IIR that reports THRE clears it');
  assert.equal(u.rd(IIR), 0x01);
  u.wr(THR, 0x41);
  assert.equal(u.irq, true, 'THR empty again after the byte left');
  assert.deepEqual(u.irqCalls, [true, false, true]);
  // While pending, a THR write drops the line and raises it again: a fresh edge.
  u.wr(THR, 0x42);
  assert.deepEqual(u.irqCalls, [true, false, true, false, true]);
  u.wr(IER, 0x00);
  assert.equal(u.irq, false);
  assert.equal(u.rd(IIR), 0x01);
});

test('DLAB selects the divisor latch at offsets 0 and 1', () => {
  const u = makeUart();
  u.wr(IER, 0x05);
  u.wr(LCR, 0x83);
  u.wr(DLL, 0x01);
  u.wr(DLM, 0x02);
  assert.equal(u.rd(DLL), 0x01);
  assert.equal(u.rd(DLM), 0x02);
  assert.equal(u.rd(LCR), 0x83);
  assert.deepEqual(u.output, [], 'a DLL write is not transmitted');
  u.wr(LCR, 0x03);
  assert.equal(u.rd(IER), 0x05, 'IER kept its value');
  u.wr(LCR, 0x80);
  assert.equal(u.rd(DLL), 0x01);
  assert.equal(u.rd(DLM), 0x02);
});

test('IER keeps only bits 3:0; scratch register round-trips', () => {
  const u = makeUart();
  u.wr(IER, 0xff);
  assert.equal(u.rd(IER), 0x0f);
  u.wr(SCR, 0xa5);
  assert.equal(u.rd(SCR), 0xa5);
});

test('loopback: MSR mirrors MCR outputs and THR feeds RBR instead of the line', () => {
  const u = makeUart();
  u.wr(MCR, 0x10 | 0x08 | 0x02); // LOOP | OUT2 | RTS
  assert.equal(u.rd(MSR) & 0xf0, 0x90, 'DCD | CTS');
  u.wr(MCR, 0x10 | 0x01 | 0x04); // LOOP | DTR | OUT1
  assert.equal(u.rd(MSR) & 0xf0, 0x60, 'DSR | RI');
  u.wr(THR, 0x5a);
  assert.deepEqual(u.output, []);
  assert.equal(u.rd(LSR) & 0x01, 0x01);
  assert.equal(u.rd(RBR), 0x5a);
  assert.equal(u.rd(LSR) & 0x01, 0x00);
  assert.equal(u.uart.enqueueInput(Uint8Array.of(1)), 0, 'the line is disconnected in loopback');
  u.wr(MCR, 0x00);
  assert.equal(u.rd(MSR) & 0xf0, 0xb0, 'back to the always-ready peer');
});

test('modem status interrupt on MSR deltas, cleared by reading MSR', () => {
  const u = makeUart();
  u.wr(IER, 0x08);
  assert.equal(u.irq, false);
  u.wr(MCR, 0x10); // entering loopback drops DCD, DSR, CTS
  assert.equal(u.irq, true);
  assert.equal(u.rd(IIR) & 0x0f, 0x00);
  const msr = u.rd(MSR);
  assert.equal(msr & 0x0f, 0x01 | 0x02 | 0x08, 'DCTS, DDSR, DDCD');
  assert.equal(u.irq, false);
  u.wr(MCR, 0x14); // RI rises: no TERI yet
  assert.equal(u.rd(MSR) & 0x0f, 0);
  u.wr(MCR, 0x10); // RI falls: trailing edge
  assert.equal(u.rd(MSR) & 0x0f, 0x04);
});

test('receive FIFO holds 16 bytes; the rest are overruns flagged in LSR OE', () => {
  const u = makeUart();
  u.wr(FCR, 0x01);
  const accepted = u.uart.enqueueInput(new Uint8Array(20).map((_, i) => i));
  assert.equal(accepted, 16);
  assert.deepEqual(u.uart.stats(), { bytesIn: 16, bytesOut: 0, overruns: 4, breaks: 0 });
  assert.equal(u.uart.inputSpace(), 0);
  const lsr = u.rd(LSR);
  assert.equal(lsr & 0x03, 0x03, 'DR and OE');
  assert.equal(u.rd(LSR) & 0x02, 0, 'OE clears when LSR is read');
  const got: number[] = [];
  while (u.rd(LSR) & 1) got.push(u.rd(RBR));
  assert.deepEqual(got, [...Array(16).keys()]);
  assert.equal(u.inputSpaceCalls, 1, 'emptying the FIFO announces space');
});

test('with FIFOs disabled the receiver holds a single byte', () => {
  const u = makeUart();
  assert.equal(u.uart.inputSpace(), 1);
  assert.equal(u.uart.enqueueInput(Uint8Array.of(1, 2)), 1);
  assert.equal(u.rd(IIR) & 0xc0, 0, 'IIR FIFO bits clear');
});

test('received data interrupt: character timeout below the trigger level, RDA at it', () => {
  const u = makeUart();
  u.wr(FCR, 0x81); // FIFO on, trigger 8
  u.wr(IER, 0x01);
  u.uart.enqueueInput(Uint8Array.of(1));
  assert.equal(u.irq, true);
  assert.equal(u.rd(IIR), 0xcc);
  u.uart.enqueueInput(new Uint8Array(7));
  assert.equal(u.rd(IIR), 0xc4);
  while (u.rd(LSR) & 1) u.rd(RBR);
  assert.equal(u.irq, false);
  assert.equal(u.rd(IIR), 0xc1);
});

test('interrupt priority: line status > received data > THR empty > modem status', () => {
  const u = makeUart();
  u.wr(FCR, 0x01);
  u.wr(MCR, 0x10); // modem status deltas pending
  u.wr(IER, 0x0f); // THRE pending too
  assert.equal(u.rd(IIR) & 0x0f, 0x02, 'THRE over modem status');
  u.wr(IER, 0x00);
  u.wr(IER, 0x0f); // re-arm THRE
  u.wr(MCR, 0x00); // leave loopback so input is accepted
  u.uart.enqueueInput(new Uint8Array(17)); // data plus an overrun
  assert.equal(u.rd(IIR) & 0x0f, 0x06, 'line status first');
  u.rd(LSR);
  assert.equal(u.rd(IIR) & 0x0f, 0x04, 'then received data');
  while (u.rd(LSR) & 1) u.rd(RBR);
  assert.equal(u.rd(IIR) & 0x0f, 0x02, 'then THR empty');
  assert.equal(u.rd(IIR) & 0x0f, 0x00, 'then modem status');
  u.rd(MSR);
  assert.equal(u.rd(IIR) & 0x0f, 0x01);
  assert.equal(u.irq, false);
});

test('a break shows LSR BI with a line status interrupt and reads as a 0x00 character', () => {
  const u = makeUart();
  u.wr(FCR, 0x01);
  u.wr(IER, 0x05);
  u.uart.enqueueInput(Uint8Array.of(0x61));
  assert.equal(u.uart.sendBreak(), true);
  u.uart.enqueueInput(Uint8Array.of(0x73));
  assert.equal(u.rd(LSR) & 0x10, 0, 'BI not yet: the break is behind a character');
  assert.equal(u.rd(RBR), 0x61);
  assert.equal(u.rd(IIR) & 0x0f, 0x06, 'break at the head: line status interrupt');
  const lsr = u.rd(LSR);
  assert.equal(lsr & 0x11, 0x11, 'BI and DR');
  assert.equal(lsr & 0x80, 0x80, 'FIFO error');
  assert.equal(u.rd(RBR), 0x00);
  assert.equal(u.rd(RBR), 0x73);
  assert.equal(u.rd(LSR) & 0x9f, 0x00);
  assert.equal(u.uart.stats().breaks, 1);
});

test('FCR clears the receive FIFO and announces space', () => {
  const u = makeUart();
  u.wr(FCR, 0x01);
  u.uart.enqueueInput(Uint8Array.of(1, 2, 3));
  u.wr(FCR, 0x03);
  assert.equal(u.rd(LSR) & 1, 0);
  assert.equal(u.inputSpaceCalls, 1);
  u.uart.enqueueInput(Uint8Array.of(1));
  u.wr(FCR, 0x00); // disabling FIFOs resets them
  assert.equal(u.rd(LSR) & 1, 0);
});

test('a 16-bit write is split into byte writes at consecutive ports', () => {
  const u = makeUart();
  u.uart.write(THR, Uint8Array.of(0x41, 0x0f)); // THR then IER
  assert.deepEqual(u.output, [0x41]);
  assert.equal(u.rd(IER), 0x0f);
  const d = new Uint8Array(4);
  u.uart.read(6, d); // MSR, SCR, then past the UART
  assert.equal(d[2], 0xff);
  assert.equal(d[3], 0xff);
});

/**
 * The register sequence of Linux's 8250 driver (drivers/tty/serial/8250/8250_port.c):
 * autoconfig() with the 16550A variant checks and size_fifo(), then the
 * interrupt tests of serial8250_do_startup(). Returns what Linux concludes.
 */
function linuxProbe(rd: (r: number) => number, wr: (r: number, v: number) => void) {
  // autoconfig(): IER existence test.
  const scratch = rd(IER);
  wr(IER, 0);
  const scratch2 = rd(IER) & 0x0f;
  wr(IER, 0x0f);
  const scratch3 = rd(IER) & 0x0f;
  wr(IER, scratch);
  if (scratch2 !== 0 || scratch3 !== 0x0f) return { type: 'none' };
  const saveMcr = rd(MCR);
  const saveLcr = rd(LCR);
  // Loopback test.
  wr(MCR, 0x10 | 0x08 | 0x02);
  const status1 = rd(MSR) & 0xf0;
  wr(MCR, saveMcr);
  if (status1 !== 0x90) return { type: 'none' };
  wr(LCR, 0xbf);
  wr(2, 0); // EFR (an FCR write on a 16550A)
  wr(LCR, 0);
  wr(FCR, 0x01);
  const fifoBits = rd(IIR) & 0xc0;
  if (fifoBits !== 0xc0) return { type: fifoBits === 0 ? '8250' : 'other' };
  let type = '16550A';
  // autoconfig_16550a(): EFR with DLAB, EFR with 0xBF.
  wr(LCR, 0x80);
  if (rd(2) === 0) return { type: 'EFR' };
  wr(LCR, 0xbf);
  if (rd(2) === 0) return { type: 'EFRv2' };
  // National Semiconductor SuperIO check.
  wr(LCR, 0);
  let s1 = rd(MCR);
  wr(LCR, 0xe0);
  let s2 = rd(2);
  if (!((s2 ^ s1) & 0x10)) {
    wr(LCR, 0);
    wr(MCR, s1 ^ 0x10);
    wr(LCR, 0xe0);
    s2 = rd(2);
    wr(LCR, 0);
    wr(MCR, s1);
    if ((s2 ^ s1) & 0x10) return { type: 'NS16550A' };
  }
  // TI16750 check.
  wr(LCR, 0);
  wr(FCR, 0x21);
  s1 = rd(IIR) & 0xe0;
  wr(FCR, 0x01);
  wr(LCR, 0x80);
  wr(FCR, 0x21);
  s2 = rd(IIR) & 0xe0;
  wr(FCR, 0x01);
  wr(LCR, 0);
  if (s1 === 0xc0 && s2 === 0xe0) return { type: '16750' };
  // XScale UUE check.
  const iersave = rd(IER);
  wr(IER, iersave & ~0x40);
  if (!(rd(IER) & 0x40)) {
    wr(IER, iersave | 0x40);
    if (rd(IER) & 0x40) return { type: 'XScale' };
  }
  wr(IER, iersave);
  // size_fifo(): loopback 256 bytes and count what the FIFO kept.
  const oldLcr = rd(LCR);
  wr(LCR, 0);
  const oldFcr = rd(FCR);
  const oldMcr = rd(MCR);
  wr(FCR, 0x07);
  wr(MCR, 0x10);
  wr(LCR, 0x80);
  const oldDl = rd(DLL) | (rd(DLM) << 8);
  wr(DLL, 1);
  wr(DLM, 0);
  wr(LCR, 0x03);
  for (let i = 0; i < 256; i++) wr(THR, i);
  let fifoSize = 0;
  while (rd(LSR) & 1 && fifoSize < 256) {
    rd(RBR);
    fifoSize++;
  }
  wr(FCR, oldFcr);
  wr(MCR, oldMcr);
  wr(LCR, 0x80);
  wr(DLL, oldDl & 0xff);
  wr(DLM, oldDl >> 8);
  wr(LCR, oldLcr);
  if (fifoSize === 64) type = 'U6_16550A';
  // End of autoconfig().
  wr(LCR, saveLcr);
  wr(MCR, saveMcr);
  wr(FCR, 0x01);
  wr(FCR, 0x07);
  wr(FCR, 0);
  rd(RBR);
  wr(IER, 0);

  // serial8250_do_startup(): clear FIFOs, clear interrupts, LSR safety check.
  wr(FCR, 0x01);
  wr(FCR, 0x07);
  wr(FCR, 0);
  rd(LSR);
  rd(RBR);
  rd(IIR);
  rd(MSR);
  if (rd(LSR) === 0xff) return { type: 'none' };
  wr(LCR, 0x03);
  // THRE re-assertion test (UART_BUG_THRE).
  wr(IER, 0x02);
  const iir1 = rd(IIR);
  wr(IER, 0);
  wr(IER, 0x02);
  const iir = rd(IIR);
  wr(IER, 0);
  const bugThre = !(iir1 & 0x01) && (iir & 0x01) !== 0;
  // TX-enable test (UART_BUG_TXEN).
  wr(IER, 0x02);
  const lsr = rd(LSR);
  const iir2 = rd(IIR);
  wr(IER, 0);
  const bugTxen = (lsr & 0x40) !== 0 && (iir2 & 0x01) !== 0;
  return { type, fifoSize, bugThre, bugTxen };
}

test('Linux 8250 autoconfig and startup identify a working 16550A with a 16-byte FIFO', () => {
  const u = makeUart();
  u.wr(SCR, 0x77);
  const result = linuxProbe(u.rd, u.wr);
  assert.deepEqual(result, { type: '16550A', fifoSize: 16, bugThre: false, bugTxen: false });
  assert.deepEqual(u.output, [], 'probing transmitted nothing on the line');
  assert.equal(u.rd(SCR), 0x77);
  assert.equal(u.rd(LCR), 0x03);
  assert.equal(u.rd(MCR), 0x00);
  assert.equal(u.irq, false);
  assert.equal(u.uart.stats().overruns, 0, 'loopback overruns are not host-input overruns');
});
