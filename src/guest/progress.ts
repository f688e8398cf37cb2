/**
 * Progress of the numbered steps of `tkvm setup`. On a terminal each step
 * is one live line, redrawn every second with its elapsed time
 * (`[4/5] building kernel (make -j2) … 3m12s`); elsewhere (logs, CI) the
 * step prints a line when it starts, a line every `plainIntervalMs` while
 * it runs, and a line when it ends, so a long build is never silent.
 */

/** Where progress goes, and the clock it is timed with (tests pass fakes). */
export interface ProgressOutput {
  write(text: string): void;
  isTty: boolean;
  now?: () => number;
  setInterval?: (callback: () => void, ms: number) => unknown;
  clearInterval?: (handle: unknown) => void;
}

/** How often a non-terminal gets a "still running" line. */
export const PLAIN_PROGRESS_INTERVAL_MS = 30_000;
const TTY_REDRAW_INTERVAL_MS = 1_000;
const CLEAR_LINE = '\r\x1b[2K';

/** `12s`, `3m12s`, `1h02m03s`. */
export function formatElapsed(ms: number): string {
  const totalSeconds = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m${String(seconds).padStart(2, '0')}s`;
  if (minutes > 0) return `${minutes}m${String(seconds).padStart(2, '0')}s`;
  return `${seconds}s`;
}

export class StepProgress {
  private readonly now: () => number;
  private readonly startTimer: (callback: () => void, ms: number) => unknown;
  private readonly stopTimer: (handle: unknown) => void;
  private stepNumber = 0;

  constructor(
    private readonly output: ProgressOutput,
    private total: number,
    private readonly plainIntervalMs = PLAIN_PROGRESS_INTERVAL_MS,
  ) {
    this.now = output.now ?? Date.now;
    this.startTimer = output.setInterval ?? ((callback, ms) => setInterval(callback, ms));
    this.stopTimer = output.clearInterval ?? ((handle) => clearInterval(handle as NodeJS.Timeout));
  }

  /** Changes the step count once it is known better (e.g. a cache hit after installing packages). */
  setTotal(total: number): void {
    this.total = total;
  }

  private prefix(): string {
    return `[${this.stepNumber}/${this.total}] `;
  }

  /** Reports a step that had nothing to do (`[2/5] unpacking …: cached`). */
  skip(label: string, reason: string): void {
    this.stepNumber += 1;
    this.output.write(`${this.prefix()}${label}: ${reason}\n`);
  }

  /** Runs `body` as the next step, showing its progress until it settles. */
  async run<T>(label: string, body: () => Promise<T>): Promise<T> {
    this.stepNumber += 1;
    const head = `${this.prefix()}${label} …`;
    const started = this.now();
    const elapsed = (): string => formatElapsed(this.now() - started);
    const { isTty } = this.output;
    if (isTty) this.output.write(`${head} 0s`);
    else this.output.write(`${head}\n`);
    const timer = this.startTimer(
      () => {
        if (isTty) this.output.write(`${CLEAR_LINE}${head} ${elapsed()}`);
        else this.output.write(`${head} still running (${elapsed()})\n`);
      },
      isTty ? TTY_REDRAW_INTERVAL_MS : this.plainIntervalMs,
    );
    const finish = (outcome: string): void => {
      this.stopTimer(timer);
      this.output.write(`${isTty ? CLEAR_LINE : ''}${head} ${outcome} (${elapsed()})\n`);
    };
    try {
      const result = await body();
      finish('done');
      return result;
    } catch (error) {
      finish('failed');
      throw error;
    }
  }
}
