/** tkvm's ACPI tables: see tables.ts for the entry point. */
export { writeAcpiTables, MAX_ACPI_CPUS } from './tables.js';
export type { AcpiTablesOptions, AcpiTablesResult, AcpiTableInfo } from './tables.js';
export * from './layout.js';
export { pcGsiRoutes, isaIrqPin, PC_IRQ0_PIN } from './interrupts.js';
export type { Irq0Pin } from './interrupts.js';
export { interpretSleepControlWrite, S5_SLEEP_TYPE, SLP_EN, ACPI_RESET_VALUE } from './sleep-control.js';
export type { SleepControlAction } from './sleep-control.js';
