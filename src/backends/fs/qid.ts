/**
 * Folds st_dev into st_ino for an object's identity in a shared tree (a 9p
 * qid.path, virtio 9P2000.L; a FUSE inode number), so that a share that
 * spans several host filesystems never reports one identity for two
 * objects (kvmtool's 9p passed st_ino alone).
 *
 * Each host device seen gets a small index, the share's own device 0:
 * identity = index << 48 | st_ino, for indexes below 2^15 and inode numbers
 * below 2^48 (every Linux filesystem in practice), so objects on the
 * share's filesystem keep their inode number. Anything else is remapped
 * to a sequential number with the top bit set, kept in a table of at most
 * REMAP_LIMIT entries; beyond it a hash is used, which may collide.
 */
const TWO_32 = 0x1_0000_0000;
const MAX_DEV_INDEX = 0x7fff;
export const REMAP_LIMIT = 1 << 20;

export class QidFolder {
  readonly #devices = new Map<number, number>();
  readonly #remapped = new Map<string, number>();
  /** The last result of fold(). */
  hi = 0;
  lo = 0;

  /** Number of devices seen so far. */
  get devices(): number {
    return this.#devices.size;
  }

  /** Computes the identity of inode (inoHi:inoLo) on device (major, minor) into `hi`/`lo`. */
  fold(devMajor: number, devMinor: number, inoHi: number, inoLo: number): void {
    const key = devMajor * TWO_32 + devMinor;
    let index = this.#devices.get(key);
    if (index === undefined) {
      index = this.#devices.size;
      this.#devices.set(key, index);
    }
    if (index <= MAX_DEV_INDEX && inoHi < 0x10000) {
      this.hi = ((index << 16) | inoHi) >>> 0;
      this.lo = inoLo >>> 0;
      return;
    }
    this.#remap(`${key}:${inoHi}:${inoLo}`);
  }

  #remap(name: string): void {
    let id = this.#remapped.get(name);
    if (id === undefined && this.#remapped.size < REMAP_LIMIT) {
      id = this.#remapped.size;
      this.#remapped.set(name, id);
    }
    if (id !== undefined) {
      this.hi = 0x8000_0000;
      this.lo = id;
      return;
    }
    let h = 0x811c9dc5; // FNV-1a over the key
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    this.hi = (0xc000_0000 | (h >>> 2)) >>> 0;
    this.lo = Math.imul(h, 0x9e3779b1) >>> 0;
  }
}
