/**
 * The loop every device runs when its queue is kicked: suppress further
 * notifications, pop and handle chains, return them, then re-enable
 * notifications and look again so that a buffer added in between is never
 * missed (virtio 1.2 §2.7.10). Malformed chains are completed with length 0
 * and reported; a fatal ring fault stops the queue. Nothing a guest does can
 * make an exception escape or the loop run unbounded.
 */
import type { DescriptorChain } from './chain.js';
import { VirtqueueError } from './errors.js';
import type { SplitQueue } from './split.js';

/**
 * What `handle` returns for a chain it kept to complete later, together
 * with others (e.g. contiguous block requests merged into one system call):
 * `flush` must then push its used entry.
 */
export const DEFERRED = -1;

/**
 * What `handle` returns for a chain the device keeps and completes later
 * itself, in any order (DeviceRuntime.complete, virtio 1.2 §2.7.8): a
 * receive buffer held until a frame arrives, a transmit chain stalled
 * until the host fd is writable. The loop pushes no used entry for it.
 */
export const HELD = -2;

/**
 * What one service call may take from a queue before it returns with
 * `more` set: the device thread then serves its other queues (and its
 * control requests: stop, reset) before this one again, so one busy queue
 * or guest cannot starve the rest.
 */
export const ROUND_CHAIN_BUDGET = 256;
export const ROUND_BYTE_BUDGET = 4 << 20;

export interface ServiceOptions {
  /** Stop popping when this returns false (e.g. a receive queue with nothing to deliver). */
  shouldContinue?: () => boolean;
  /** Most chains handled in one call; the rest wait for the next call (`more`). Default ROUND_CHAIN_BUDGET. */
  budget?: number;
  /**
   * Most buffer bytes (readable plus writable) of the chains handled in one
   * call; the chain that crosses it is still handled. Default ROUND_BYTE_BUDGET.
   */
  byteBudget?: number;
  /**
   * Completes (pushes the used entries of) every chain `handle` returned
   * DEFERRED for, and returns how many. Called before the loop re-enables
   * notifications and before it returns, so no deferred chain is left
   * behind. `handle` must call it itself before handling a chain that has
   * to run after the deferred ones.
   */
  flush?: () => number;
}

export interface ServiceResult {
  /** Chains completed (including malformed ones). */
  completed: number;
  /** The driver must get a used-buffer notification. */
  notify: boolean;
  /** The budget ran out with chains still available: call again soon. */
  more: boolean;
  /** Set when the queue broke: the device must set DEVICE_NEEDS_RESET. */
  fatal: VirtqueueError | null;
}

/**
 * Handles every available chain of `queue` with `handle`, which returns the
 * number of bytes it wrote into the chain's writable buffers (or DEFERRED,
 * see ServiceOptions.flush, or HELD). Errors (from the queue or thrown by `handle`)
 * go to `onError`; the chain is completed with length 0.
 */
export function serviceQueue(
  queue: SplitQueue,
  handle: (chain: DescriptorChain) => number,
  onError: (error: Error, head: number | undefined) => void,
  options: ServiceOptions = {},
): ServiceResult {
  const shouldContinue = options.shouldContinue;
  const flush = options.flush;
  const flushDeferred = (): void => {
    if (!flush) return;
    try {
      completed += flush();
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)), undefined);
    }
  };
  let budget = options.budget ?? ROUND_CHAIN_BUDGET;
  let byteBudget = options.byteBudget ?? ROUND_BYTE_BUDGET;
  let completed = 0;
  let fatal: VirtqueueError | null = queue.broken;
  let more = false;
  let stopped = false;
  outer: while (!fatal) {
    queue.disableNotification();
    for (;;) {
      if (shouldContinue && !shouldContinue()) {
        stopped = true;
        break outer;
      }
      if (budget <= 0 || byteBudget <= 0) {
        flushDeferred();
        // Chains left: notifications stay off and the caller comes back. None: ask for a kick
        // as a drained queue does, or the driver, seeing a stale avail_event, would never send one.
        more = queue.availableCount() > 0 || queue.enableNotification();
        break outer;
      }
      let chain: DescriptorChain | null;
      try {
        chain = queue.popAvail();
      } catch (err) {
        if (!(err instanceof VirtqueueError)) throw err;
        onError(err, err.head);
        if (err.fatal) {
          flushDeferred();
          fatal = err;
          break outer;
        }
        if (err.head !== undefined) {
          queue.pushUsed(err.head, 0);
          completed++;
        }
        budget--;
        continue;
      }
      if (!chain) break;
      budget--;
      byteBudget -= chain.readableLength + chain.writableLength;
      let written: number;
      try {
        written = handle(chain);
      } catch (err) {
        onError(err instanceof Error ? err : new Error(String(err)), chain.head);
        written = 0;
      }
      if (written === HELD || (written === DEFERRED && flush)) continue;
      if (!Number.isInteger(written) || written < 0 || written > chain.writableLength) {
        onError(new Error(`device reported ${written} bytes used of ${chain.writableLength} writable`), chain.head);
        written = 0;
      }
      queue.pushUsed(chain.head, written);
      completed++;
    }
    flushDeferred();
    if (!queue.enableNotification()) break;
  }
  // Stopped early with buffers left: still ask to be told about new ones.
  if (stopped) {
    flushDeferred();
    queue.enableNotification();
  }
  return { completed, notify: queue.needsNotification(), more, fatal };
}
