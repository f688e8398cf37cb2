/**
 * The `tkvm web` server: an HTTP/1.1 server (loopback by default) with the
 * page, a small JSON API over the VMs' control sockets, and a WebSocket per
 * browser terminal. Every URL starts with the random token
 * (`/TOKEN/...`); any other request gets 401. The routes, after the token:
 *
 *   GET  /                          the page (and its files: assets.ts)
 *   GET  /api/vms                   every running VM, as `tkvm top` samples them
 *   POST /api/vms/NAME/pause        pause, resume or stop (graceful) one VM
 *   POST /api/vms/NAME/resume
 *   POST /api/vms/NAME/stop
 *   GET  /api/vms/NAME/console      WebSocket: the VM's console (console-relay.ts)
 *
 * POSTs and WebSockets must come from the server's own origin; every
 * request must name an allowed Host (security.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';
import { TkvmError } from '../../util/errors.js';
import { callVm, ControlError, type ClientOptions } from '../../control/client.js';
import { isValidVmName } from '../../control/paths.js';
import { sampleVms } from '../../control/top-sampler.js';
import { computeRows, sortRows, type VmSample, type TopRow } from '../../control/top-model.js';
import { loadAssets, type Asset } from './assets.js';
import { relayConsole } from './console-relay.js';
import { SECURITY_HEADERS, allowedHosts, hostAllowed, hostPort, newToken, originAllowed, pathAfterToken, TOKEN_PATTERN } from './security.js';

export interface WebServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** Control directory of the VMs; undefined means controlDir(). */
  dir?: string;
  /** The URL token; default a new random one (tests pass their own). */
  token?: string;
  /** Static files; default loadAssets(). */
  assets?: Map<string, Asset>;
}

/** Browser terminals open at once; more are refused (each holds a control connection). */
export const MAX_CONSOLES = 64;
/** Samples younger than this answer /api/vms again, however many pages poll. */
const SAMPLE_REUSE_MS = 500;

type Action = 'pause' | 'resume' | 'stop';

const API_VM_ROUTE = /^\/api\/vms\/([^/]+)\/(pause|resume|stop|console)$/;

export class WebServer {
  readonly token: string;
  readonly host: string;
  readonly port: number;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #assets: Map<string, Asset>;
  readonly #client: ClientOptions;
  readonly #allowedHosts: Set<string> | 'any';
  #previous = new Map<string, VmSample>();
  #lastSample: { atMs: number; rows: Promise<TopRow[]> } | null = null;

  private constructor(server: Server, options: Required<Pick<WebServerOptions, 'token'>> & WebServerOptions, assets: Map<string, Asset>) {
    this.#server = server;
    this.token = options.token;
    const address = server.address() as AddressInfo;
    this.host = address.address;
    this.port = address.port;
    this.#assets = assets;
    this.#client = options.dir === undefined ? {} : { dir: options.dir };
    this.#allowedHosts = allowedHosts(this.host, this.port);
    // Frames up to 64 KiB: typing and pasting, never a flood in one message.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  }

  /** Binds and starts serving; throws ERR_WEB_LISTEN (address in use, not local...) or ERR_WEB_ASSET. */
  static async start(options: WebServerOptions = {}): Promise<WebServer> {
    const token = options.token ?? newToken();
    if (!TOKEN_PATTERN.test(token)) throw new TkvmError('ERR_WEB_TOKEN', 'the web token must be 32 to 128 URL-safe characters');
    const assets = options.assets ?? loadAssets();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new TkvmError('ERR_WEB_LISTEN', `cannot listen on ${hostPort(options.host ?? '127.0.0.1', options.port ?? 0)}: ${err.code ?? err.message}`));
      });
      server.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 }, () => resolve());
    });
    const web = new WebServer(server, { ...options, token }, assets);
    server.on('request', (req, res) => web.#onRequest(req, res));
    server.on('upgrade', (req, socket, head) => web.#onUpgrade(req, socket, head));
    server.on('clientError', (_err, socket) => socket.destroy());
    server.on('error', () => {});
    return web;
  }

  /** Where the page is: the URL `tkvm web` prints. */
  get url(): string {
    return `http://${hostPort(this.host, this.port)}/${this.token}/`;
  }

  async close(): Promise<void> {
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The path after the token, or null after answering 401/403/400 itself. */
  #admit(req: IncomingMessage, reply: (status: number, message: string) => void): string | null {
    if (!hostAllowed(req.headers.host, this.#allowedHosts)) {
      reply(403, 'this server does not answer to that Host');
      return null;
    }
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://host.invalid').pathname;
    } catch {
      reply(400, 'bad request URL');
      return null;
    }
    const rest = pathAfterToken(pathname, this.token);
    if (rest === null) reply(401, 'missing or wrong token: open the URL tkvm web printed');
    return rest;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, message: string): void => sendJson(res, status, { error: { message } });
    const path = this.#admit(req, reply);
    if (path === null) return;
    if (path === '') {
      // The page's relative URLs need the trailing slash to stay under the token.
      res.writeHead(308, { ...SECURITY_HEADERS, Location: `/${this.token}/`, 'Content-Length': '0' });
      res.end();
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const asset = this.#assets.get(path);
      if (asset) {
        send(res, 200, asset.contentType, req.method === 'HEAD' ? Buffer.alloc(0) : asset.body, asset.body.length);
        return;
      }
      if (path === '/api/vms') {
        void this.#rows().then(
          (rows) => sendJson(res, 200, { vms: rows }),
          (err: unknown) => reply(500, err instanceof Error ? err.message : 'sampling failed'),
        );
        return;
      }
    }
    const match = API_VM_ROUTE.exec(path);
    if (match && match[2] !== 'console') {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        reply(405, `${path} takes POST`);
        return;
      }
      // A page of another site cannot know the token; a same-origin check is cheap insurance besides.
      if (!originAllowed(req.headers.origin, req.headers.host)) {
        reply(403, 'cross-origin request refused');
        return;
      }
      req.resume(); // the body, if any, means nothing
      void this.#act(decodeURIComponentSafe(match[1]!) ?? '', match[2] as Action).then(
        () => sendJson(res, 200, { ok: true }),
        (err: unknown) => {
          const status = err instanceof ControlError && err.code === 'ERR_NO_SUCH_VM' ? 404 : err instanceof TkvmError && err.exitCode === 2 ? 400 : 502;
          sendJson(res, status, { error: { code: err instanceof TkvmError ? err.code : 'ERR_WEB', message: err instanceof Error ? err.message : String(err) } });
        },
      );
      return;
    }
    reply(match ? 400 : 404, match ? 'the console is a WebSocket' : `no such page: ${path.slice(0, 100)}`);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const refuse = (status: number, message: string): void => {
      socket.end(`HTTP/1.1 ${status} ${httpStatusText(status)}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`);
    };
    const path = this.#admit(req, refuse);
    if (path === null) return;
    const match = API_VM_ROUTE.exec(path);
    if (!match || match[2] !== 'console') return refuse(404, 'no such WebSocket');
    if (!originAllowed(req.headers.origin, req.headers.host)) return refuse(403, 'cross-origin WebSocket refused');
    const name = decodeURIComponentSafe(match[1]!);
    if (name === null || !isValidVmName(name)) return refuse(400, 'bad VM name');
    if (this.#wss.clients.size >= MAX_CONSOLES) return refuse(503, `at most ${MAX_CONSOLES} consoles at once`);
    // The WebSocketServer tracks its clients (clientTracking): the count above includes this one once upgraded.
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      void relayConsole(ws, name, this.#client);
    });
  }

  async #act(name: string, action: Action): Promise<void> {
    if (!isValidVmName(name)) throw new TkvmError('ERR_USAGE', 'bad VM name', 2);
    if (action === 'stop') await callVm(name, 'stop', { force: false }, this.#client);
    else await callVm(name, action, {}, this.#client);
    this.#lastSample = null; // the next poll shows the new state
  }

  /** Every running VM with rates, as `tkvm top` computes them, sorted by name. */
  #rows(): Promise<TopRow[]> {
    const now = performance.now();
    if (this.#lastSample && now - this.#lastSample.atMs < SAMPLE_REUSE_MS) return this.#lastSample.rows;
    const rows = sampleVms(this.#client).then((samples) => {
      const computed = sortRows(computeRows(this.#previous, samples), 'name');
      this.#previous = new Map(samples.map((s) => [s.info.name, s]));
      return computed;
    });
    this.#lastSample = { atMs: now, rows };
    rows.catch(() => {
      if (this.#lastSample?.rows === rows) this.#lastSample = null;
    });
    return rows;
  }
}

function decodeURIComponentSafe(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: Buffer, length = body.length): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': contentType, 'Content-Length': String(length) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', Buffer.from(JSON.stringify(value)));
}

function httpStatusText(status: number): string {
  return ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' } as Record<number, string>)[status] ?? 'Error';
}
