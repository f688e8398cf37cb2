import { test } from 'node:test';
import assert from 'node:assert/strict';
import { I8042 } from './i8042.js';

function makeController() {
  const irqCalls: boolean[] = [];
  let resets = 0;
  const kbc = new I8042({ setIrqLevel: (l) => irqCalls.push(l), onReset: () => resets++ });
  const inb = (port: 0x60 | 0x64): number => {
    const d = new Uint8Array(1);
    (port === 0x60 ? kbc.dataPort : kbc.commandPort).read(0, d);
    return d[0]!;
  };
  const outb = (port: 0x60 | 0x64, value: number): void =>
    (port === 0x60 ? kbc.dataPort : kbc.commandPort).write(0, Uint8Array.of(value));
  return {
    kbc,
    irqCalls,
    inb,
    outb,
    get resets() {
      return resets;
    },
    get irq() {
      return irqCalls.at(-1) ?? false;
    },
  };
}

const OBF = 0x01, IBF = 0x02, SYS = 0x04, AUXDATA = 0x20;

/**
 * Linux's __i8042_command (drivers/input/serio/i8042.c): the low byte is the
 * command, bits 15:12 the parameter count, bits 11:8 the reply count. The
 * waits poll the status register like Linux does, but a timeout fails the test.
 */
function i8042Command(c: ReturnType<typeof makeController>, command: number, params: number[] = []): number[] {
  const waitWrite = () => {
    for (let i = 0; i < 100; i++) if (!(c.inb(0x64) & IBF)) return;
    throw new Error('i8042 write timeout');
  };
  const waitRead = () => {
    for (let i = 0; i < 100; i++) if (c.inb(0x64) & OBF) return;
    throw new Error(`i8042 read timeout after command 0x${command.toString(16)}`);
  };
  waitWrite();
  c.outb(0x64, command & 0xff);
  for (let i = 0; i < ((command >> 12) & 0xf); i++) {
    waitWrite();
    c.outb(0x60, params[i]!);
  }
  const replies: number[] = [];
  for (let i = 0; i < ((command >> 8) & 0xf); i++) {
    waitRead();
    if (command === 0x11d3 && !(c.inb(0x64) & AUXDATA)) throw new Error('EIO: AUX loop reply without AUXDATA');
    replies.push(c.inb(0x60));
  }
  return replies;
}

/** i8042_flush: reads at most 16 bytes; more means "No controller found". */
function flush(c: ReturnType<typeof makeController>): number[] {
  const flushed: number[] = [];
  while (c.inb(0x64) & OBF) {
    if (flushed.length >= 16) throw new Error('i8042 flush: controller never empties');
    flushed.push(c.inb(0x60));
  }
  return flushed;
}

test('power-on status: output buffer empty, input buffer empty, system flag set', () => {
  const c = makeController();
  assert.equal(c.inb(0x64) & (OBF | IBF | SYS), SYS);
  assert.equal(c.irqCalls.length, 0);
});

test('self test answers 0x55 and interface test 0x00, through the output buffer', () => {
  const c = makeController();
  c.outb(0x64, 0xaa);
  assert.equal(c.inb(0x64) & OBF, OBF);
  assert.equal(c.inb(0x60), 0x55);
  assert.equal(c.inb(0x64) & OBF, 0);
  c.outb(0x64, 0xab);
  assert.equal(c.inb(0x60), 0x00);
});

test('commands 0x20/0x60 read and write the command byte', () => {
  const c = makeController();
  assert.deepEqual(i8042Command(c, 0x0120), [0x65]);
  i8042Command(c, 0x1060, [0x47]);
  assert.equal(c.kbc.commandByte, 0x47);
  assert.deepEqual(i8042Command(c, 0x0120), [0x47]);
});

test('0xAD/0xAE and 0xA7/0xA8 toggle the keyboard and AUX disable bits', () => {
  const c = makeController();
  c.outb(0x64, 0xad);
  assert.equal(c.kbc.commandByte & 0x10, 0x10);
  c.outb(0x64, 0xae);
  assert.equal(c.kbc.commandByte & 0x10, 0);
  c.outb(0x64, 0xa8);
  assert.equal(c.kbc.commandByte & 0x20, 0);
  c.outb(0x64, 0xa7);
  assert.equal(c.kbc.commandByte & 0x20, 0x20);
});

test('0xFE pulses the reset line; other pulse commands do not', () => {
  const c = makeController();
  c.outb(0x64, 0xff);
  c.outb(0x64, 0xf1);
  assert.equal(c.resets, 0);
  c.outb(0x64, 0xfe);
  assert.equal(c.resets, 1);
  assert.equal(c.kbc.stats().resets, 1);
});

test('writing the output port with bit 0 clear resets; with it set does not', () => {
  const c = makeController();
  i8042Command(c, 0x10d1, [0x03]);
  assert.equal(c.resets, 0);
  assert.deepEqual(i8042Command(c, 0x01d0), [0x03]);
  i8042Command(c, 0x10d1, [0x02]);
  assert.equal(c.resets, 1);
});

test('0xD2 puts a byte in the output buffer as if from the keyboard, raising IRQ 1', () => {
  const c = makeController();
  c.outb(0x64, 0xd2);
  c.outb(0x60, 0xab);
  assert.equal(c.irq, true);
  assert.equal(c.inb(0x64) & (OBF | AUXDATA), OBF);
  assert.equal(c.inb(0x60), 0xab);
  assert.equal(c.irq, false);
});

test('scancodes raise IRQ 1 once per byte: the line drops on each read', () => {
  const c = makeController();
  assert.equal(c.kbc.enqueueScancodes(Uint8Array.of(0x1d, 0x38, 0xe0, 0x53)), 4);
  const got: number[] = [];
  while (c.inb(0x64) & OBF) got.push(c.inb(0x60));
  assert.deepEqual(got, [0x1d, 0x38, 0xe0, 0x53]);
  assert.deepEqual(c.irqCalls, [true, false, true, false, true, false, true, false]);
  assert.equal(c.kbc.stats().scancodesIn, 4);
});

test('a disabled keyboard interface holds scancodes until it is enabled', () => {
  const c = makeController();
  c.outb(0x64, 0xad);
  c.kbc.enqueueScancodes(Uint8Array.of(0x1e));
  assert.equal(c.inb(0x64) & OBF, 0);
  assert.equal(c.irq, false);
  c.outb(0x64, 0xae);
  assert.equal(c.irq, true);
  assert.equal(c.inb(0x60), 0x1e);
});

test('with the keyboard interrupt disabled in CTR, data waits without an IRQ', () => {
  const c = makeController();
  i8042Command(c, 0x1060, [0x64]);
  c.kbc.enqueueScancodes(Uint8Array.of(0x1e));
  assert.equal(c.inb(0x64) & OBF, OBF);
  assert.equal(c.irq, false);
});

test('the keyboard buffers at most 16 scancodes', () => {
  const c = makeController();
  assert.equal(c.kbc.enqueueScancodes(new Uint8Array(20).fill(0x1e)), 16);
  assert.equal(c.kbc.stats().scancodesDropped, 4);
  assert.equal(flush(c).length, 16);
});

test("Linux's i8042 probe succeeds without timeouts and finds no AUX port", () => {
  const c = makeController();
  c.kbc.enqueueScancodes(Uint8Array.of(0x1e, 0x9e)); // a key pressed during boot
  // i8042_controller_check
  flush(c);
  // i8042_controller_selftest
  assert.deepEqual(i8042Command(c, 0x01aa), [0x55]);
  // i8042_controller_init: a stable CTR read, keyboard disabled, interrupt off
  const ctr0 = i8042Command(c, 0x0120)[0]!;
  const ctr1 = i8042Command(c, 0x0120)[0]!;
  assert.equal(ctr0, ctr1);
  assert.equal(c.inb(0x64) & 0x10, 0x10, 'keylock not active');
  assert.equal(ctr0 & 0x40, 0x40, 'translated mode');
  let ctr = (ctr0 | 0x10) & ~0x01;
  i8042Command(c, 0x1060, [ctr]);
  flush(c);
  // i8042_check_aux (without i8042.noaux)
  flush(c);
  const loop = i8042Command(c, 0x11d3, [0x5a]);
  assert.notDeepEqual(loop, [0x5a], 'AUX loop fails');
  const auxTest = i8042Command(c, 0x01a9)[0]!;
  assert.ok(auxTest !== 0 && auxTest !== 0xfa && auxTest !== 0xff, 'AUX test reports an error: no AUX port');
  // i8042_setup_kbd → i8042_enable_kbd_port
  ctr = (ctr & ~0x10) | 0x01;
  i8042Command(c, 0x1060, [ctr]);
  assert.equal(c.inb(0x64) & OBF, 0, 'nothing left over for the interrupt handler');
  // The boot keystroke was flushed; a new one arrives by interrupt.
  c.kbc.enqueueScancodes(Uint8Array.of(0x2c));
  assert.equal(c.irq, true);
  assert.equal(c.inb(0x60), 0x2c);
});

test("Linux's atkbd probe (no i8042.dumbkbd) gets ID 0xab41 and ACKs for every command", () => {
  const c = makeController();
  i8042Command(c, 0x1060, [0x45]); // keyboard enabled, interrupt on, translated
  /** ps2_command: write the byte to the keyboard, then take the ACK and replies by interrupt. */
  const ps2 = (bytes: number[], replies: number): number[] => {
    const got: number[] = [];
    for (const b of bytes) {
      c.outb(0x60, b);
      assert.equal(c.irq, true, `keyboard answered 0x${b.toString(16)}`);
      assert.equal(c.inb(0x60), 0xfa);
    }
    for (let i = 0; i < replies; i++) {
      assert.equal(c.irq, true);
      got.push(c.inb(0x60));
    }
    assert.equal(c.inb(0x64) & OBF, 0);
    return got;
  };
  assert.deepEqual(ps2([0xf2], 2), [0xab, 0x41]); // GETID
  ps2([0xf5], 0); // RESET_DIS
  ps2([0xed, 0x00], 0); // SETLEDS
  ps2([0xf3, 0x00], 0); // SETREP
  ps2([0xf4], 0); // ENABLE
  ps2([0xff], 1); // RESET_BAT would answer 0xAA after the ACK
  c.outb(0x60, 0xee);
  assert.equal(c.inb(0x60), 0xee, 'echo');
  c.outb(0x60, 0x12);
  assert.equal(c.inb(0x60), 0xfe, 'not a command: resend');
});

test('a keyboard with scanning disabled (0xF5) drops injected scancodes', () => {
  const c = makeController();
  c.outb(0x60, 0xf5);
  assert.equal(c.inb(0x60), 0xfa);
  assert.equal(c.kbc.enqueueScancodes(Uint8Array.of(0x1e)), 0);
  c.outb(0x60, 0xf4);
  assert.equal(c.inb(0x60), 0xfa);
  assert.equal(c.kbc.enqueueScancodes(Uint8Array.of(0x1e)), 1);
});

test('wide accesses touch only port offset 0; the rest read 0xff', () => {
  const c = makeController();
  const d = new Uint8Array(4);
  c.kbc.commandPort.read(0, d);
  assert.deepEqual([...d.subarray(1)], [0xff, 0xff, 0xff]);
  c.kbc.commandPort.write(0, Uint8Array.of(0xaa, 0xfe, 0xfe, 0xfe));
  assert.equal(c.resets, 0, 'only the first byte is a command');
  assert.equal(c.inb(0x60), 0x55);
});

test('Ctrl-Alt-Del: set 1 codes while translating, set 2 codes in direct mode', () => {
  const c = makeController();
  assert.equal(c.kbc.pressCtrlAltDel(), true);
  assert.deepEqual(flush(c), [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
  i8042Command(c, 0x1060, [0x05]); // translation off (i8042.direct)
  assert.equal(c.kbc.pressCtrlAltDel(), true);
  assert.deepEqual(flush(c), [0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14]);
  c.outb(0x60, 0xf5); // scanning disabled
  flush(c);
  assert.equal(c.kbc.pressCtrlAltDel(), false);
});
