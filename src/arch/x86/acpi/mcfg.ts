/**
 * PCI Express memory-mapped configuration space table, "MCFG" (PCI
 * Firmware Specification 3.2, 4.1.2): the header, 8 reserved bytes, then
 * one 16-byte allocation per ECAM range:
 *
 *   0 Base Address (8)  8 PCI Segment Group (2)  10 Start Bus  11 End Bus  12 Reserved (4)
 */
import { ByteWriter } from './bytes.js';
import { buildSdt } from './sdt.js';

export const MCFG_REVISION = 1;
export const MCFG_ALLOCATIONS_OFFSET = 44;

export interface EcamRange {
  base: number;
  segment: number;
  startBus: number;
  endBus: number;
}

export function buildMcfg(ranges: readonly EcamRange[]): Uint8Array {
  const w = new ByteWriter().zeros(8);
  for (const r of ranges) w.u64(r.base).u16(r.segment).u8(r.startBus).u8(r.endBus).u32(0);
  return buildSdt('MCFG', MCFG_REVISION, w.finish());
}
