/**
 * One browser terminal: a WebSocket (RFC 6455) joined to a VM's console
 * over its control socket (the `console` command). Guest output goes to
 * the browser as binary messages; what the browser sends (binary or text)
 * is typed into the guest. Text messages from the server are JSON notices:
 * `{"type":"dropped","bytes":N}` (output the browser missed because it
 * read too slowly, here or at the VM) and `{"type":"error","message":...}`.
 * Both directions are bounded: output beyond WS_BACKLOG_BYTES unsent is
 * dropped and counted, and input beyond MAX_PENDING_INPUTS unanswered
 * writes is dropped.
 */
import type { WebSocket } from 'ws';
import { attachConsole, type ClientOptions, type ConsoleSession } from '../../control/client.js';

/** Output queued for one browser before more is dropped. */
export const WS_BACKLOG_BYTES = 1024 * 1024;
/** Input writes to the VM awaiting their reply before more input is dropped. */
export const MAX_PENDING_INPUTS = 16;

export async function relayConsole(ws: WebSocket, vmName: string, options: ClientOptions): Promise<void> {
  let dropped = 0;
  const notice = (message: object): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  };
  const reportDropped = (): void => {
    if (dropped === 0) return;
    notice({ type: 'dropped', bytes: dropped });
    dropped = 0;
  };
  let session: ConsoleSession;
  try {
    session = await attachConsole(vmName, {
      onOutput: (data) => {
        if (ws.readyState !== ws.OPEN) return;
        if (ws.bufferedAmount >= WS_BACKLOG_BYTES) {
          dropped += data.length;
          return;
        }
        reportDropped();
        ws.send(data, { binary: true });
      },
      onDropped: (bytes) => void (dropped += bytes),
      onClose: () => ws.close(1000, 'the VM ended'),
    }, options);
  } catch (err) {
    notice({ type: 'error', message: err instanceof Error ? err.message.split('\n')[0] : String(err) });
    ws.close(1011, 'no console');
    return;
  }
  if (ws.readyState !== ws.OPEN) {
    session.close();
    return;
  }
  let pending = 0;
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (pending >= MAX_PENDING_INPUTS) return;
    pending++;
    session.write(bytes).catch(() => {}).finally(() => void pending--);
  });
  ws.on('close', () => session.close());
}
