/**
 * The header every ACPI system description table starts with
 * (ACPI 6.5, 5.2.6 "System Description Table Header"), 36 bytes:
 *
 *   0 Signature[4]  4 Length  8 Revision  9 Checksum  10 OEMID[6]
 *  16 OEM Table ID[8]  24 OEM Revision  28 Creator ID[4]  32 Creator Revision
 */
import { ByteWriter, fixChecksum } from './bytes.js';

export const SDT_HEADER_SIZE = 36;
export const SDT_CHECKSUM_OFFSET = 9;
export const SDT_LENGTH_OFFSET = 4;

export const OEM_ID = 'TKVM';
export const CREATOR_ID = 'TKVM';
export const OEM_REVISION = 1;
export const CREATOR_REVISION = 1;

/** A complete table: header, then `body`, with Length and Checksum filled in. */
export function buildSdt(signature: string, revision: number, body: Uint8Array): Uint8Array {
  if (signature.length !== 4) throw new RangeError(`ACPI signature "${signature}" must be 4 characters`);
  const w = new ByteWriter()
    .ascii(signature, 4)
    .u32(SDT_HEADER_SIZE + body.length)
    .u8(revision)
    .u8(0)
    .ascii(OEM_ID, 6)
    .ascii(`${OEM_ID}${signature}`, 8)
    .u32(OEM_REVISION)
    .ascii(CREATOR_ID, 4)
    .u32(CREATOR_REVISION)
    .bytes(body);
  const table = w.finish();
  fixChecksum(table, SDT_CHECKSUM_OFFSET);
  return table;
}

/**
 * Makes a table built elsewhere (an extra table the caller passes in) valid:
 * checks its Length field against its size and recomputes its checksum.
 */
export function sealSdt(table: Uint8Array): Uint8Array {
  if (table.length < SDT_HEADER_SIZE) throw new RangeError(`ACPI table of ${table.length} bytes is shorter than its header`);
  const out = table.slice();
  const length = new DataView(out.buffer).getUint32(SDT_LENGTH_OFFSET, true);
  if (length !== out.length) throw new RangeError(`ACPI table length field ${length} does not match its size ${out.length}`);
  fixChecksum(out, SDT_CHECKSUM_OFFSET);
  return out;
}

/** The 4-character signature of a table. */
export function sdtSignature(table: Uint8Array): string {
  return String.fromCharCode(...table.subarray(0, 4));
}
