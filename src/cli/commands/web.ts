/**
 * `tkvm web [--listen HOST:PORT]`: a local web page of the running VMs,
 * with each one's console in a terminal (xterm.js), live charts and pause,
 * resume and stop buttons (src/api/web). Prints the page's URL, which
 * carries the random token every request needs, and serves until Ctrl-C.
 */
import { isIP } from 'node:net';
import type { Command } from '../command.js';
import { clientOptions, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';
import { UsageError } from '../../util/errors.js';

const usage = `usage: tkvm web [--listen HOST:PORT]

Serves a web page of the running VMs: each one's console in a terminal
where you can type, live charts of its exits, I/O and memory, and pause,
resume and stop buttons. Prints the page's URL: it carries a random token,
and any request without it gets 401, so treat the URL like a password.

  --listen HOST:PORT  address to listen on (default 127.0.0.1:0); HOST is an
                      IP address or localhost ([::1] for IPv6), and port 0
                      picks a free port. Anything but loopback lets other
                      machines reach the page (the token still guards it).`;

export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[IPV6]:PORT`; throws UsageError. */
export function parseListen(text: string | undefined): ListenAddress {
  if (text === undefined) return { host: '127.0.0.1', port: 0 };
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  const bad = (): never => {
    throw new UsageError(`--listen must be HOST:PORT with HOST an IP address or localhost and PORT 0 to 65535, got ${JSON.stringify(text)}`);
  };
  if (host === undefined || !(port >= 0 && port <= 65535)) return bad();
  if (match?.[1] !== undefined ? isIP(host) !== 6 : !(isIP(host) === 4 || host === 'localhost')) return bad();
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

export interface WebIo extends CommandIo {
  /** Called with the URL once the server listens (tests read it here). */
  onListening?: (url: string) => void;
}

export function makeWebCommand(io: WebIo = processIo): Command {
  return {
    name: 'web',
    summary: 'web console of the running VMs (terminal, charts, buttons)',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { values } = parseFlags(argv, { listen: { type: 'string' } }, false);
        const listen = parseListen(values.listen);
        // Loaded on demand: the HTTP and WebSocket code is for this command only.
        const { WebServer } = await import('../../api/web/server.js');
        const { isLoopback } = await import('../../api/web/security.js');
        const server = await WebServer.start({ ...listen, ...clientOptions(io) });
        if (!isLoopback(server.host)) {
          io.stderr(`tkvm: warning: listening on ${server.host}, not loopback: anyone who can reach it and learns the URL can control your VMs\n`);
        }
        io.stdout(`${server.url}\n`);
        io.stderr('tkvm web: open the URL above in a browser; Ctrl-C stops the server\n');
        io.onListening?.(server.url);
        await new Promise<void>((resolve) => {
          if (io.signal) {
            if (io.signal.aborted) resolve();
            else io.signal.addEventListener('abort', () => resolve(), { once: true });
            return;
          }
          const stop = (): void => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await server.close();
        return 0;
      }),
  };
}

export const webCommand: Command = makeWebCommand();
