/** Helpers shared by the control-plane tests (not used at run time). */
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh control directory under a private temporary directory. */
export function tempControlDir(): { base: string; dir: string; cleanup(): void } {
  const base = mkdtempSync(join(tmpdir(), 'tkvm-ctl-'));
  return { base, dir: join(base, 'tkvm'), cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/**
 * Writes `data` to the socket, half-closes, and collects the reply lines
 * until the server closes the connection.
 */
export function exchange(path: string, data: Buffer | string, timeoutMs = 5000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close from server within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: Error & { code?: string }) => {
      // The server may close first (after an oversized line): keep what it sent.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') return;
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString();
      resolve(text.split('\n').filter((l) => l.length > 0));
    });
    socket.end(data);
  });
}
