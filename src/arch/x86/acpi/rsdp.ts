/**
 * Root System Description Pointer, revision 2 (ACPI 6.5, 5.2.5.3), 36 bytes:
 *
 *   0 "RSD PTR "  8 Checksum (bytes 0-19)  9 OEMID[6]  15 Revision = 2
 *  16 RsdtAddress  20 Length = 36  24 XsdtAddress  32 Extended Checksum  33 Reserved[3]
 *
 * tkvm has no RSDT: with revision 2 the OS uses the XSDT, and RsdtAddress
 * is 0.
 */
import { ByteWriter, fixChecksum } from './bytes.js';
import { OEM_ID } from './sdt.js';

export const RSDP_SIZE = 36;
export const RSDP_SIGNATURE = 'RSD PTR ';
/** The RSDP must sit on a 16-byte boundary (5.2.5.1). */
export const RSDP_ALIGNMENT = 16;

export function buildRsdp(xsdtAddr: number): Uint8Array {
  const rsdp = new ByteWriter()
    .ascii(RSDP_SIGNATURE, 8)
    .u8(0)
    .ascii(OEM_ID, 6)
    .u8(2)
    .u32(0)
    .u32(RSDP_SIZE)
    .u64(xsdtAddr)
    .u8(0)
    .zeros(3)
    .finish();
  fixChecksum(rsdp, 8, 0, 20);
  fixChecksum(rsdp, 32, 0, RSDP_SIZE);
  return rsdp;
}
