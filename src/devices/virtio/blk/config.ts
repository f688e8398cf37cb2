/**
 * virtio-blk constants and configuration space (virtio 1.2 §5.2).
 */
import { ConfigSpace } from '../config-space.js';

/** Feature bits (§5.2.3). */
export const BlkFeature = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
  LIFETIME: 15,
  SECURE_ERASE: 16,
} as const;

/** Request types (§5.2.6). */
export const BlkRequestType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  GET_LIFETIME: 10,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
} as const;

/** Request status byte (§5.2.6). */
export const BlkStatus = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
} as const;

export const SECTOR_SIZE = 512;
/** struct virtio_blk_req header: le32 type, le32 reserved, le64 sector. */
export const REQUEST_HEADER_SIZE = 16;
/** struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags. */
export const DISCARD_SEGMENT_SIZE = 16;
/** virtio_blk_discard_write_zeroes.flags bit 0. */
export const DISCARD_FLAG_UNMAP = 1;
/** GET_ID answers with a serial of at most this many bytes. */
export const BLK_ID_BYTES = 20;

/** Field offsets of struct virtio_blk_config (§5.2.4). */
export const BlkConfigOffset = {
  capacity: 0,
  sizeMax: 8,
  segMax: 12,
  geometryCylinders: 16,
  geometryHeads: 18,
  geometrySectors: 19,
  blkSize: 20,
  physicalBlockExp: 24,
  alignmentOffset: 25,
  minIoSize: 26,
  optIoSize: 28,
  writeback: 32,
  numQueues: 34,
  maxDiscardSectors: 36,
  maxDiscardSeg: 40,
  discardSectorAlignment: 44,
  maxWriteZeroesSectors: 48,
  maxWriteZeroesSeg: 52,
  writeZeroesMayUnmap: 56,
} as const;
/** Config bytes through write_zeroes_may_unmap and its padding (secure erase fields not offered). */
export const BLK_CONFIG_SIZE = 60;

export interface BlkLimits {
  capacitySectors: number;
  sizeMax: number;
  segMax: number;
  blkSize: number;
  numQueues: number;
  maxDiscardSectors: number;
  maxDiscardSeg: number;
  discardSectorAlignment: number;
  maxWriteZeroesSectors: number;
  maxWriteZeroesSeg: number;
  writeZeroesMayUnmap: boolean;
}

export function encodeBlkConfig(limits: BlkLimits): ConfigSpace {
  const config = new ConfigSpace(BLK_CONFIG_SIZE);
  const v = config.view;
  const o = BlkConfigOffset;
  v.setBigUint64(o.capacity, BigInt(limits.capacitySectors), true);
  v.setUint32(o.sizeMax, limits.sizeMax, true);
  v.setUint32(o.segMax, limits.segMax, true);
  v.setUint32(o.blkSize, limits.blkSize, true);
  v.setUint16(o.numQueues, limits.numQueues, true);
  v.setUint32(o.maxDiscardSectors, limits.maxDiscardSectors, true);
  v.setUint32(o.maxDiscardSeg, limits.maxDiscardSeg, true);
  v.setUint32(o.discardSectorAlignment, limits.discardSectorAlignment, true);
  v.setUint32(o.maxWriteZeroesSectors, limits.maxWriteZeroesSectors, true);
  v.setUint32(o.maxWriteZeroesSeg, limits.maxWriteZeroesSeg, true);
  v.setUint8(o.writeZeroesMayUnmap, limits.writeZeroesMayUnmap ? 1 : 0);
  return config;
}

/** The config-space bytes of a new capacity (le64 at offset 0, §5.2.4), for the transport to publish. */
export function capacityPatch(capacitySectors: number): { offset: number; bytes: Uint8Array } {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(capacitySectors), true);
  return { offset: BlkConfigOffset.capacity, bytes };
}
