/**
 * Executes one virtio-blk request (virtio 1.2 §5.2.6): a device-readable
 * header (type, sector), data (device-readable for writes, device-writable
 * for reads), and a status byte in the last byte of the device-writable
 * part. Guest mistakes end in IOERR/UNSUPP, never in an exception.
 */
import type { DiskBackend, DiskResult } from '../../disk.js';
import type { DeviceLogger } from '../log.js';
import type { DescriptorChain } from '../queue/chain.js';
import {
  BLK_ID_BYTES, BlkRequestType, BlkStatus, DISCARD_FLAG_UNMAP, DISCARD_SEGMENT_SIZE, REQUEST_HEADER_SIZE, SECTOR_SIZE,
} from './config.js';

export type BlkRequestKind = 'in' | 'out' | 'flush' | 'getId' | 'discard' | 'writeZeroes' | 'unsupported';

export interface BlkCounters {
  /** Requests completed, well-formed or not. */
  requests: number;
  readBytes: number;
  writtenBytes: number;
  /** Requests completed with IOERR or UNSUPP, or dropped as malformed. */
  errors: number;
  /** Requests without a full header or without a status byte (completed with length 0). */
  malformed: number;
  byType: Record<BlkRequestKind, number>;
}

export function emptyBlkCounters(): BlkCounters {
  return {
    requests: 0, readBytes: 0, writtenBytes: 0, errors: 0, malformed: 0,
    byType: { in: 0, out: 0, flush: 0, getId: 0, discard: 0, writeZeroes: 0, unsupported: 0 },
  };
}

export interface BlkRequestContext {
  backend: DiskBackend;
  /** Disk size in 512-byte sectors (a trailing partial sector is not addressable). */
  capacitySectors: number;
  readOnly: boolean;
  /** GET_ID answer, NUL-padded to 20 bytes. */
  serial: Uint8Array;
  maxDiscardSectors: number;
  maxDiscardSeg: number;
  maxWriteZeroesSectors: number;
  maxWriteZeroesSeg: number;
  writeZeroesMayUnmap: boolean;
  /** size_max and seg_max as offered (§5.2.4): larger segments or more of them fail with IOERR. */
  sizeMax: number;
  segMax: number;
  /** VIRTIO_BLK_F_FLUSH not negotiated: the device must write through (§5.2.6.2). */
  writeThrough: boolean;
  counters: BlkCounters;
  logger: DeviceLogger;
}

type Status = (typeof BlkStatus)[keyof typeof BlkStatus];

/**
 * Why a chain breaks the limits the device offered (§5.2.4 size_max,
 * seg_max: a descriptor is a segment, the header and the status byte aside),
 * or null when it keeps them.
 */
export function segmentLimitViolation(chain: DescriptorChain, ctx: BlkRequestContext): string | null {
  const segments = chain.readable.length + chain.writable.length - 2;
  if (segments > ctx.segMax) return `${segments} data segments, more than seg_max ${ctx.segMax}`;
  for (const buffers of [chain.readable, chain.writable]) {
    for (let i = 0; i < buffers.length; i++) {
      if (buffers[i]!.len > ctx.sizeMax) return `a segment of ${buffers[i]!.len} bytes, more than size_max ${ctx.sizeMax}`;
    }
  }
  return null;
}

/** Processes `chain` as a block request; returns the used length. */
export function executeBlkRequest(chain: DescriptorChain, ctx: BlkRequestContext): number {
  ctx.counters.requests++;
  const reader = chain.reader();
  const writer = chain.writer();
  if (writer.remaining < 1 || reader.remaining < REQUEST_HEADER_SIZE) {
    ctx.counters.malformed++;
    ctx.counters.errors++;
    ctx.logger.warn(`virtio-blk: request ${chain.head} dropped: ${writer.remaining < 1 ? 'no status byte' : `header of ${reader.remaining} bytes`}`);
    return 0;
  }
  const type = reader.readU32();
  reader.skip(4);
  const sector = reader.readU64();
  const status = perform(type, sector, chain, ctx, reader, writer);
  if (status !== BlkStatus.OK) ctx.counters.errors++;
  writer.skip(writer.remaining - 1);
  writer.writeU8(status);
  return writer.bytesWritten;
}

function perform(
  type: number, sector: bigint, chain: DescriptorChain, ctx: BlkRequestContext,
  reader: ReturnType<DescriptorChain['reader']>, writer: ReturnType<DescriptorChain['writer']>,
): Status {
  const c = ctx.counters;
  const fail = (status: Status, why: string): Status => {
    ctx.logger.warn(`virtio-blk: request ${chain.head}: ${why}`);
    return status;
  };
  const checked = (result: DiskResult, what: string): Status =>
    result.ok ? BlkStatus.OK : fail(BlkStatus.IOERR, `${what} failed: ${result.error.code} ${result.error.message}`);

  switch (type) {
    case BlkRequestType.IN:
    case BlkRequestType.OUT: {
      const isRead = type === BlkRequestType.IN;
      c.byType[isRead ? 'in' : 'out']++;
      const violation = segmentLimitViolation(chain, ctx);
      if (violation !== null) return fail(BlkStatus.IOERR, violation);
      const len = isRead ? writer.remaining - 1 : reader.remaining;
      const name = isRead ? 'read' : 'write';
      if (!isRead && ctx.readOnly) return fail(BlkStatus.IOERR, 'write to a read-only disk');
      if (len % SECTOR_SIZE !== 0) return fail(BlkStatus.IOERR, `${name} of ${len} bytes is not a multiple of ${SECTOR_SIZE}`);
      const offset = byteRange(sector, len / SECTOR_SIZE, ctx.capacitySectors);
      if (offset === null) return fail(BlkStatus.IOERR, `${name} past the end: sector ${sector} + ${len / SECTOR_SIZE} > ${ctx.capacitySectors}`);
      if (len === 0) return BlkStatus.OK;
      if (isRead) {
        const status = checked(ctx.backend.readv(offset, writer.ioBuffers(len)), name);
        if (status === BlkStatus.OK) c.readBytes += len;
        return status;
      }
      let status = checked(ctx.backend.writev(offset, reader.ioBuffers(len)), name);
      if (status === BlkStatus.OK && ctx.writeThrough) status = checked(ctx.backend.flush(), 'write-through flush');
      if (status === BlkStatus.OK) c.writtenBytes += len;
      return status;
    }
    case BlkRequestType.FLUSH:
      c.byType.flush++;
      return checked(ctx.backend.flush(), 'flush');
    case BlkRequestType.GET_ID: {
      c.byType.getId++;
      const n = Math.min(BLK_ID_BYTES, writer.remaining - 1);
      writer.write(ctx.serial.subarray(0, n));
      return BlkStatus.OK;
    }
    case BlkRequestType.DISCARD:
    case BlkRequestType.WRITE_ZEROES:
      return discardOrZero(type === BlkRequestType.DISCARD, reader, ctx, fail, checked);
    default:
      c.byType.unsupported++;
      return fail(BlkStatus.UNSUPP, `unsupported request type ${type}`);
  }
}

/** DISCARD and WRITE_ZEROES: a list of (sector, count, flags) segments, all validated before any is applied. */
function discardOrZero(
  isDiscard: boolean, reader: ReturnType<DescriptorChain['reader']>, ctx: BlkRequestContext,
  fail: (status: Status, why: string) => Status, checked: (result: DiskResult, what: string) => Status,
): Status {
  const name = isDiscard ? 'discard' : 'write-zeroes';
  ctx.counters.byType[isDiscard ? 'discard' : 'writeZeroes']++;
  if (ctx.readOnly) return fail(BlkStatus.IOERR, `${name} on a read-only disk`);
  const maxSeg = isDiscard ? ctx.maxDiscardSeg : ctx.maxWriteZeroesSeg;
  const maxSectors = isDiscard ? ctx.maxDiscardSectors : ctx.maxWriteZeroesSectors;
  const len = reader.remaining;
  if (len === 0 || len % DISCARD_SEGMENT_SIZE !== 0) return fail(BlkStatus.IOERR, `${name} payload of ${len} bytes is not a list of 16-byte segments`);
  const count = len / DISCARD_SEGMENT_SIZE;
  if (count > maxSeg) return fail(BlkStatus.IOERR, `${name} with ${count} segments (max ${maxSeg})`);
  const segments: Array<{ offset: number; bytes: number; unmap: boolean }> = [];
  for (let i = 0; i < count; i++) {
    const sector = reader.readU64();
    const sectors = reader.readU32();
    const flags = reader.readU32();
    if ((flags & ~DISCARD_FLAG_UNMAP) !== 0 || (isDiscard && flags !== 0)) return fail(BlkStatus.UNSUPP, `${name} segment flags 0x${flags.toString(16)}`);
    if (sectors > maxSectors) return fail(BlkStatus.IOERR, `${name} of ${sectors} sectors (max ${maxSectors})`);
    const offset = byteRange(sector, sectors, ctx.capacitySectors);
    if (offset === null) return fail(BlkStatus.IOERR, `${name} past the end: sector ${sector} + ${sectors} > ${ctx.capacitySectors}`);
    segments.push({ offset, bytes: sectors * SECTOR_SIZE, unmap: (flags & DISCARD_FLAG_UNMAP) !== 0 });
  }
  for (const s of segments) {
    if (s.bytes === 0) continue;
    const result = isDiscard
      ? ctx.backend.discard(s.offset, s.bytes)
      : ctx.backend.writeZeroes(s.offset, s.bytes, s.unmap && ctx.writeZeroesMayUnmap);
    const status = checked(result, name);
    if (status !== BlkStatus.OK) return status;
  }
  return BlkStatus.OK;
}

/** Byte offset of `sector` if [sector, sector+count) lies on the disk, else null. */
function byteRange(sector: bigint, count: number, capacitySectors: number): number | null {
  if (sector > BigInt(capacitySectors)) return null;
  const s = Number(sector);
  return s + count <= capacitySectors ? s * SECTOR_SIZE : null;
}
