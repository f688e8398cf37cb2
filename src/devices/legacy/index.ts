/**
 * The legacy PC devices and where a PC puts them. The VMM registers each on
 * the port-I/O bus at these bases (the i8042's two views separately) and wires
 * the IRQ callbacks to KVM_IRQ_LINE on these lines.
 */
import { TEST_PIO_ECHO_BASE, TEST_PIO_ECHO_SIZE, TEST_MMIO_ECHO_BASE, TEST_MMIO_ECHO_SIZE } from '../test/echo.js';

export { Serial16550, SERIAL_FIFO_SIZE } from './serial.js';
export type { Serial16550Options, SerialStats, SerialRegisterView } from './serial.js';
export { SerialCore, createSerialState } from './serial-core.js';
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

/** The PC's legacy port map lives with the platform (the DSDT describes the same ports). */
export {
  COM1_BASE, COM1_LENGTH, COM1_IRQ, I8042_DATA, I8042_COMMAND, I8042_PORT_LENGTH, I8042_IRQ, RTC_BASE, RTC_LENGTH, RTC_IRQ,
} from '../../arch/x86/pc-ports.js';

/** QEMU isa-debug-exit compatible port. */
export const DEBUG_EXIT_PORT = 0x501;
export const DEBUG_EXIT_LENGTH = 2;

/** Integration-test echo devices (VmConfig.testDevices); also exported by devices/test/echo.ts. */
export const TEST_PIO_ECHO = TEST_PIO_ECHO_BASE;
export const TEST_PIO_ECHO_LENGTH = TEST_PIO_ECHO_SIZE;
export const TEST_MMIO_ECHO = TEST_MMIO_ECHO_BASE;
export const TEST_MMIO_ECHO_LENGTH = TEST_MMIO_ECHO_SIZE;
