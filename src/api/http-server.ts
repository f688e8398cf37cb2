/**
 * Firecracker's HTTP/1.1 API over a UNIX socket (swagger v1.16), answered
 * by an Instance. Success is 204 with no body, a GET 200 with JSON; every
 * error is 400 with `{"fault_message": ...}` (firecracker-go-sdk treats any
 * other 2xx to PUT or PATCH as a failure). Requests are handled one at a
 * time, in order, as Firecracker's API thread does; bodies over the
 * payload limit are refused before they are read.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { TkvmError } from '../util/errors.js';
import * as log from '../util/log.js';
import { ApiError } from './errors.js';
import type { Instance } from './instance.js';
import { FIRECRACKER_API_VERSION } from './resources/vm-state.js';

/** Firecracker's HTTP_MAX_PAYLOAD_SIZE. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 51_200;

type Handler = (instance: Instance, body: unknown, id: string) => unknown;

interface Route {
  method: 'GET' | 'PUT' | 'PATCH';
  /** A path, with `{id}` for one path segment. */
  path: string;
  handler: Handler;
}

/** Every endpoint of the swagger; those of features tkvm lacks answer 400 through their resource module. */
export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/', handler: (i) => i.info() },
  { method: 'GET', path: '/version', handler: () => ({ firecracker_version: FIRECRACKER_API_VERSION }) },
  { method: 'PUT', path: '/actions', handler: (i, b) => i.action(b) },
  { method: 'GET', path: '/machine-config', handler: (i) => i.getMachineConfig() },
  { method: 'PUT', path: '/machine-config', handler: (i, b) => i.putMachineConfig(b) },
  { method: 'PATCH', path: '/machine-config', handler: (i, b) => i.patchMachineConfig(b) },
  { method: 'PUT', path: '/boot-source', handler: (i, b) => i.putBootSource(b) },
  { method: 'PUT', path: '/drives/{id}', handler: (i, b, id) => i.putDrive(id, b) },
  { method: 'PATCH', path: '/drives/{id}', handler: (i, b, id) => i.patchDrive(id, b) },
  { method: 'PUT', path: '/network-interfaces/{id}', handler: (i, b, id) => i.putNetworkInterface(id, b) },
  { method: 'PATCH', path: '/network-interfaces/{id}', handler: (i, b, id) => i.patchNetworkInterface(id, b) },
  { method: 'PUT', path: '/entropy', handler: (i, b) => i.putEntropy(b) },
  { method: 'PUT', path: '/logger', handler: (i, b) => i.putLogger(b) },
  { method: 'PUT', path: '/metrics', handler: (i, b) => i.putMetrics(b) },
  { method: 'PATCH', path: '/vm', handler: (i, b) => i.patchVm(b) },
  { method: 'GET', path: '/vm/config', handler: (i) => i.exportConfig() },
  { method: 'PUT', path: '/vsock', handler: (i, b) => i.putVsock(b) },
  { method: 'PUT', path: '/balloon', handler: (i, b) => i.putBalloon(b) },
  { method: 'PATCH', path: '/balloon', handler: (i, b) => i.patchBalloon(b) },
  { method: 'GET', path: '/balloon', handler: () => refused('balloon devices yet') },
  { method: 'GET', path: '/balloon/statistics', handler: () => refused('balloon devices yet') },
  { method: 'PATCH', path: '/balloon/statistics', handler: (i, b) => i.patchBalloonStatistics(b) },
  { method: 'PUT', path: '/snapshot/create', handler: (i, b) => i.createSnapshot(b) },
  { method: 'PUT', path: '/snapshot/load', handler: (i, b) => i.loadSnapshot(b) },
  { method: 'PUT', path: '/mmds', handler: () => refused('MMDS (the microVM metadata service)') },
  { method: 'PATCH', path: '/mmds', handler: () => refused('MMDS (the microVM metadata service)') },
  { method: 'GET', path: '/mmds', handler: () => refused('MMDS (the microVM metadata service)') },
  { method: 'PUT', path: '/mmds/config', handler: () => refused('MMDS (the microVM metadata service)') },
  { method: 'PUT', path: '/cpu-config', handler: () => refused('CPU configuration templates') },
  { method: 'PUT', path: '/serial', handler: () => refused('serial output redirection (the console is on stdout)') },
  { method: 'PUT', path: '/pmem/{id}', handler: () => refused('pmem devices') },
  { method: 'PATCH', path: '/pmem/{id}', handler: () => refused('pmem devices') },
  { method: 'PUT', path: '/hotplug/memory', handler: () => refused('memory hotplug') },
  { method: 'PATCH', path: '/hotplug/memory', handler: () => refused('memory hotplug') },
  { method: 'GET', path: '/hotplug/memory', handler: () => refused('memory hotplug') },
];

function refused(feature: string): never {
  throw new ApiError('ERR_API_UNSUPPORTED', `tkvm does not support ${feature}`);
}

/** Routes that take no body (GET and the bodyless PATCH). */
function takesBody(method: string): boolean {
  return method === 'PUT' || method === 'PATCH';
}

/** The route for `method path`, and its `{id}` segment. */
export function findRoute(method: string, path: string): { route: Route; id: string } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const param = route.path.indexOf('{id}');
    if (param < 0) {
      if (route.path === path) return { route, id: '' };
      continue;
    }
    const prefix = route.path.slice(0, param);
    if (path.startsWith(prefix)) {
      const id = path.slice(prefix.length);
      if (id.length > 0 && !id.includes('/')) return { route, id: decodeURIComponent(id) };
    }
  }
  return undefined;
}

export interface ApiServerOptions {
  socketPath: string;
  instance: Instance;
  maxPayloadBytes?: number;
}

class PayloadTooLarge extends Error {}

/** Reads the whole body, refusing it once it passes `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) {
        reject(new PayloadTooLarge(`Request payload with size ${length} is larger than the limit of ${limit} allowed by server.`));
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export class ApiServer {
  readonly socketPath: string;
  readonly #server: Server;
  readonly #instance: Instance;
  readonly #maxPayload: number;
  /** Requests run one at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve();
  readonly #errors = log.rateLimited('API requests');

  private constructor(options: ApiServerOptions, server: Server) {
    this.socketPath = options.socketPath;
    this.#instance = options.instance;
    this.#maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.#server = server;
  }

  /** Binds the socket (mode 0600). An existing socket file is an error, as in Firecracker: the caller removes stale ones. */
  static async start(options: ApiServerOptions): Promise<ApiServer> {
    const server = createServer({ keepAlive: true });
    const api = new ApiServer(options, server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => api.#onRequest(req, res));
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 42\r\n\r\n{"fault_message":"Malformed HTTP request"}');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new TkvmError('ERR_API_SOCKET', `cannot listen on the API socket ${options.socketPath}: ${err.code === 'EADDRINUSE' ? 'it already exists (remove it first)' : err.code ?? err.message}`));
      });
      server.listen(options.socketPath, () => resolve());
    });
    chmodSync(options.socketPath, 0o600);
    return api;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.#maxPayload) {
      // Refused unread; the connection closes so the unread body is not taken for the next request.
      this.#reply(res, 400, { fault_message: `Request payload with size ${declared} is larger than the limit of ${this.#maxPayload} allowed by server.` }, true);
      return;
    }
    const body = readBody(req, this.#maxPayload);
    body.catch(() => {}); // handled in #handle, in turn
    this.#queue = this.#queue.then(() => this.#handle(req, res, body));
  }

  async #handle(req: IncomingMessage, res: ServerResponse, bodyPromise: Promise<Buffer>): Promise<void> {
    const method = req.method ?? '';
    const path = (req.url ?? '').split('?', 1)[0] ?? '';
    try {
      let raw: Buffer;
      try {
        raw = await bodyPromise;
      } catch (err) {
        if (err instanceof PayloadTooLarge) {
          this.#reply(res, 400, { fault_message: err.message }, true);
          return;
        }
        throw err;
      }
      const match = findRoute(method, path);
      if (!match) throw new ApiError('ERR_API_NO_ROUTE', `Invalid request method and/or path: ${method} ${path}.`);
      let body: unknown;
      if (takesBody(method)) {
        if (raw.length === 0) throw new ApiError('ERR_API_EMPTY_BODY', 'The request body is empty; this request needs a JSON body.');
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch (err) {
          throw new ApiError('ERR_API_BAD_JSON', `The request body is not valid JSON: ${(err as Error).message}`);
        }
      }
      const result = await match.route.handler(this.#instance, body, match.id);
      if (method === 'GET') this.#reply(res, 200, result);
      else this.#reply(res, 204, undefined);
    } catch (err) {
      const message = err instanceof TkvmError ? err.message : `Internal error: ${(err as Error).message}`;
      this.#errors.log(err instanceof ApiError ? 'info' : 'warn', `${method} ${path}: ${message}`);
      this.#reply(res, 400, { fault_message: message });
    }
  }

  #reply(res: ServerResponse, status: number, body: unknown, close = false): void {
    if (res.writableEnded) return;
    const headers: Record<string, string> = {};
    if (close) headers['Connection'] = 'close';
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
    } else {
      const text = JSON.stringify(body);
      res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
      res.end(text);
    }
  }

  /** Stops listening, ends open connections and removes the socket file (if it is still ours). */
  async close(): Promise<void> {
    const done = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await done;
    try {
      if (lstatSync(this.socketPath).isSocket()) unlinkSync(this.socketPath);
    } catch { /* already gone */ }
  }
}
