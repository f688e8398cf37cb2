/**
 * The PC legacy devices every tkvm VM has (COM1 with the terminal console,
 * i8042, CMOS RTC, debug-exit) and the echo devices of the test guests,
 * registered at their standard addresses.
 */
import type { Vm } from '../kvm/vm.js';
import type { DeviceManager } from './device-manager.js';
import {
  Serial16550, SerialConsole, I8042, CmosRtc, DebugExit,
  COM1_BASE, COM1_IRQ, I8042_DATA, I8042_COMMAND, I8042_IRQ, RTC_BASE, DEBUG_EXIT_PORT,
} from '../devices/legacy/index.js';
import type { ConsoleInput } from '../devices/legacy/console.js';
import { PioEchoDevice, MmioEchoDevice, TEST_PIO_ECHO_BASE, TEST_PIO_ECHO_SIZE, TEST_MMIO_ECHO_BASE, TEST_MMIO_ECHO_SIZE } from '../devices/test/echo.js';
import { ExitStatus } from './config.js';
import { GuestProtocolTap, type GuestProtocolEvents } from './guest-protocol.js';

export interface LegacyOptions {
  memBytes: number;
  testDevices: boolean;
  /** Claim the debug-exit port (--debug-exit). */
  debugExit: boolean;
  onExit: (status: number, reason: string, clean?: boolean) => void;
  /** Marker lines of the default guest's init, or null when the guest is not the kit's (its output passes untouched). */
  guestProtocol: GuestProtocolEvents | null;
  /** Feed terminal input to the UART (default true); false when another console device will take it. */
  serialInput?: boolean;
  /** Every chunk of console output as the terminal gets it (for the control socket's console clients). */
  onConsoleOutput?: (chunk: Uint8Array) => void;
  /** Where guest console output goes (default process.stdout). */
  consoleOutput?: NodeJS.WritableStream;
  /** Where the guest console reads and writes (default: this process's stdin and stdout, with Ctrl-A escapes). */
  consoleIo?: ConsoleIo | undefined;
}

/** The host side of the guest console, for a VMM embedded in a program (the library's console stream). */
export interface ConsoleIo {
  input: ConsoleInput;
  output: NodeJS.WritableStream;
  /** Interpret the Ctrl-A escape prefix (default true). */
  escapes?: boolean;
}

export interface LegacyDevices {
  serial: Serial16550;
  console: SerialConsole;
  i8042: I8042;
  rtc: CmosRtc;
  /** A new sink for one guest console's output (UART, virtio-console): the kit's protocol tap, then the terminal. */
  guestOutput(): (byte: number) => void;
  /** Restores the terminal and flushes console output. */
  close(): void;
}

/** A level-triggered line into the in-kernel irqchip (KVM_IRQ_LINE), set only on change. */
function irqLine(vm: Vm, gsi: number): (level: boolean) => void {
  let current = false;
  return (level) => {
    if (level === current) return;
    current = level;
    vm.setIrqLine(gsi, level);
  };
}

export function attachLegacyDevices(devices: DeviceManager, vm: Vm, opts: LegacyOptions): LegacyDevices {
  const io = opts.consoleIo;
  const console = new SerialConsole({
    onQuit: () => opts.onExit(ExitStatus.POWEROFF, 'quit from the console (Ctrl-A x)'),
    ...(io ? { input: io.input, output: io.output, escapes: io.escapes ?? true } : opts.consoleOutput ? { output: opts.consoleOutput } : {}),
    ...(opts.onConsoleOutput ? { onOutputChunk: opts.onConsoleOutput } : {}),
  });
  // Every console the guest writes to passes through one tap of its own (the kit's init may use ttyS0 or hvc0).
  const taps: GuestProtocolTap[] = [];
  const guestOutput = (): ((byte: number) => void) => {
    const events = opts.guestProtocol;
    if (!events) return (b) => console.output(b);
    const tap = new GuestProtocolTap((b) => console.output(b), events);
    taps.push(tap);
    return (b) => tap.push(b);
  };
  // Flow control: while stdout holds enough unwritten output the UART's transmitter stays full, and the guest waits.
  // The vCPU threads answer COM1 over serial.shared; its shared state tracks the line, so every change is an ioctl.
  const serial: Serial16550 = new Serial16550({
    onOutput: guestOutput(), setIrqLevel: (level) => vm.setIrqLine(COM1_IRQ, level),
    outputBlocked: () => console.outputBlocked(),
    onOutputBlocked: () => console.whenOutputDrained(() => serial.transmitterReady()),
  });
  serial.watchSharedAccess();
  if (opts.serialInput ?? true) console.attach(serial);
  devices.addPio(COM1_BASE, 8, 'serial (COM1)', serial);
  devices.addStats({ name: 'serial', counters: () => ({ ...serial.stats() }) });

  const i8042 = new I8042({ onReset: () => opts.onExit(ExitStatus.POWEROFF, 'guest reset through the i8042'), setIrqLevel: irqLine(vm, I8042_IRQ) });
  devices.addPio(I8042_DATA, 1, 'i8042 data', i8042.dataPort);
  devices.addPio(I8042_COMMAND, 1, 'i8042 command', i8042.commandPort);

  // The vCPU threads answer the RTC over rtc.shared; the bus keeps it for the mailbox path.
  const rtc = new CmosRtc({ memBytes: opts.memBytes });
  devices.addPio(RTC_BASE, 2, 'cmos rtc', rtc);
  if (opts.debugExit) {
    devices.addPio(DEBUG_EXIT_PORT, 2, 'debug-exit', new DebugExit({ onExit: (status) => opts.onExit(status, `guest wrote to the debug-exit port: status ${status}`, true) }));
  }

  if (opts.testDevices) {
    devices.addPio(TEST_PIO_ECHO_BASE, TEST_PIO_ECHO_SIZE, 'test pio echo', new PioEchoDevice());
    devices.addMmio(TEST_MMIO_ECHO_BASE, TEST_MMIO_ECHO_SIZE, 'test mmio echo', new MmioEchoDevice());
  }

  return {
    serial, console, i8042, rtc, guestOutput,
    close: () => {
      serial.stopWatching();
      for (const tap of taps) tap.flush();
      console.restore();
    },
  };
}
