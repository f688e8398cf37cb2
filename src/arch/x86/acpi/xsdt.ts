/**
 * Extended System Description Table (ACPI 6.5, 5.2.8): the header, then
 * the 64-bit address of every other table except the DSDT (which the FADT
 * points to).
 */
import { ByteWriter } from './bytes.js';
import { buildSdt, SDT_HEADER_SIZE } from './sdt.js';

export const XSDT_REVISION = 1;

export function xsdtSize(entries: number): number {
  return SDT_HEADER_SIZE + 8 * entries;
}

export function buildXsdt(tableAddrs: readonly number[]): Uint8Array {
  const body = new ByteWriter();
  for (const addr of tableAddrs) body.u64(addr);
  return buildSdt('XSDT', XSDT_REVISION, body.finish());
}
