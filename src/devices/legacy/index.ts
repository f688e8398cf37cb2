/**
 * The legacy PC devices and where a PC puts them. The VMM registers each on
 * the port-I/O bus at these bases (the i8042's two views separately) and wires
 * the IRQ callbacks to KVM_IRQ_LINE on these lines.
 */
import { TEST_PIO_ECHO_BASE, TEST_PIO_ECHO_SIZE, TEST_MMIO_ECHO_BASE, TEST_MMIO_ECHO_SIZE } from '../test/echo.js';

export { Serial16550, SERIAL_FIFO_SIZE } from './serial.js';
export type { Serial16550Options, SerialStats, SerialRegisterView } from './serial.js';
export { SerialConsole } from './console.js';
export type { ConsoleInputSink, ConsoleInput, ConsoleStats, ExitHookTarget, SerialConsoleOptions } from './console.js';
export { I8042 } from './i8042.js';
export type { I8042Options, I8042Stats } from './i8042.js';
export { CmosRtc, DEFAULT_LOW_RAM_LIMIT } from './rtc.js';
export type { RtcOptions } from './rtc.js';
export { DebugExit, debugExitStatus } from './debug-exit.js';
export type { DebugExitOptions } from './debug-exit.js';
export {
  EchoDevice,
  PioEchoDevice,
  MmioEchoDevice,
  TEST_PIO_ECHO_BASE,
  TEST_PIO_ECHO_SIZE,
  TEST_MMIO_ECHO_BASE,
  TEST_MMIO_ECHO_SIZE,
} from '../test/echo.js';

/** COM1: 8 ports from 0x3f8, IRQ 4. */
export const COM1_BASE = 0x3f8;
export const COM1_LENGTH = 8;
export const COM1_IRQ = 4;

/** i8042 PS/2 controller: data 0x60, status/command 0x64 (1 port each), keyboard IRQ 1. */
export const I8042_DATA = 0x60;
export const I8042_COMMAND = 0x64;
export const I8042_PORT_LENGTH = 1;
export const I8042_IRQ = 1;

/** MC146818 RTC/CMOS: index 0x70, data 0x71 (RTC interrupts, IRQ 8, are not generated). */
export const RTC_BASE = 0x70;
export const RTC_LENGTH = 2;
export const RTC_IRQ = 8;

/** QEMU isa-debug-exit compatible port. */
export const DEBUG_EXIT_PORT = 0x501;
export const DEBUG_EXIT_LENGTH = 2;

/** Integration-test echo devices (VmConfig.testDevices); also exported by devices/test/echo.ts. */
export const TEST_PIO_ECHO = TEST_PIO_ECHO_BASE;
export const TEST_PIO_ECHO_LENGTH = TEST_PIO_ECHO_SIZE;
export const TEST_MMIO_ECHO = TEST_MMIO_ECHO_BASE;
export const TEST_MMIO_ECHO_LENGTH = TEST_MMIO_ECHO_SIZE;
