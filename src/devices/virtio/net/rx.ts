/**
 * Receive-side buffer handling (virtio 1.2 §5.1.6.3, §5.1.6.4): the device
 * holds the receive chains the driver posted until a frame arrives, reads
 * the frame straight into them, and returns the chains it used.
 *
 * Without VIRTIO_NET_F_MRG_RXBUF a frame (with its header) must fit in one
 * chain. With it, a frame may span several chains, taken in the order they
 * were made available; the header of the first one says how many
 * (num_buffers), and every chain but the last is returned full.
 */
import type { HostAddressMap } from '../../../memory/host-address-map.js';
import type { IovecList } from '../../../memory/iovec-list.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { ChainBuffer, DescriptorChain } from '../queue/chain.js';

/** A FIFO of held receive chains, at most one queue's worth (allocation-free once built). */
export class HeldChains {
  readonly #ring: Array<DescriptorChain | null>;
  #first = 0;
  #count = 0;
  #bytes = 0;

  constructor(capacity: number) {
    this.#ring = new Array<DescriptorChain | null>(capacity).fill(null);
  }

  get count(): number {
    return this.#count;
  }

  /** Device-writable bytes of all held chains. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Holds `chain`; false when full (a driver cannot post more chains than its queue has entries). */
  push(chain: DescriptorChain): boolean {
    if (this.#count === this.#ring.length) return false;
    this.#ring[(this.#first + this.#count) % this.#ring.length] = chain;
    this.#count++;
    this.#bytes += chain.writableLength;
    return true;
  }

  /** The `i`-th held chain, oldest first. */
  at(i: number): DescriptorChain {
    if (i < 0 || i >= this.#count) throw new RangeError(`held chain ${i} of ${this.#count}`);
    return this.#ring[(this.#first + i) % this.#ring.length]!;
  }

  /** Releases the oldest chain. */
  shift(): DescriptorChain {
    const chain = this.at(0);
    this.#ring[this.#first] = null;
    this.#first = (this.#first + 1) % this.#ring.length;
    this.#count--;
    this.#bytes -= chain.writableLength;
    return chain;
  }

  clear(): void {
    this.#ring.fill(null);
    this.#first = 0;
    this.#count = 0;
    this.#bytes = 0;
  }
}

/**
 * Appends the host ranges of the writable bytes of held chains 0..maxChains-1
 * to `iov`, leaving out the first `skip` bytes of the first chain (the header
 * the device writes itself) and stopping at `limit` bytes. Returns the number
 * of chains whose bytes went (at least partly) into `iov`, or -1 if a buffer
 * is not guest RAM the map knows. A full `iov` ends the gather early.
 */
export function gatherReceiveBuffers(held: HeldChains, maxChains: number, map: HostAddressMap, iov: IovecList, skip: number, limit: number): number {
  iov.clear();
  let toSkip = skip;
  let chains = 0;
  const n = Math.min(maxChains, held.count);
  for (let c = 0; c < n && iov.length < limit; c++) {
    const writable = held.at(c).writable;
    const chainStart = iov.length;
    for (let i = 0; i < writable.length && iov.length < limit; i++) {
      const b = writable[i]!;
      let addr = b.addr;
      let len = b.len;
      if (toSkip > 0) {
        const s = Math.min(toSkip, len);
        toSkip -= s;
        addr += s;
        len -= s;
        if (len === 0) continue;
      }
      len = Math.min(len, limit - iov.length);
      const before = iov.length;
      if (!map.append(iov, addr, len)) {
        if (iov.count < iov.capacity) return -1;
        // No room for more iovecs: the frame gets the bytes gathered so far.
        iov.truncate(before);
        return iov.length > chainStart ? c + 1 : c;
      }
    }
    chains = c + 1;
  }
  return chains;
}

/**
 * Splits a received frame of `total` bytes (header included) over the held
 * chains, oldest first: writes each chain's used length into `lengths` and
 * returns how many chains the frame takes, or -1 if they cannot hold it.
 */
export function splitFrame(held: HeldChains, total: number, lengths: Uint32Array): number {
  let left = total;
  let n = 0;
  while (left > 0) {
    if (n >= held.count || n >= lengths.length) return -1;
    const len = Math.min(held.at(n).writableLength, left);
    lengths[n++] = len;
    left -= len;
  }
  return n;
}

/**
 * Writes `bytes` into the writable buffers of `chain` at byte `offset`
 * (the header may be split over buffers: VERSION_1 implies any layout,
 * §2.7.4.2). Returns false if the chain is too short.
 */
export function writeIntoChain(memory: GuestMemory, writable: readonly ChainBuffer[], offset: number, bytes: Uint8Array): boolean {
  let skip = offset;
  let done = 0;
  for (let i = 0; i < writable.length && done < bytes.length; i++) {
    const b = writable[i]!;
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    const n = Math.min(b.len - skip, bytes.length - done);
    memory.write(b.addr + skip, done === 0 && n === bytes.length ? bytes : bytes.subarray(done, done + n));
    done += n;
    skip = 0;
  }
  return done === bytes.length;
}
