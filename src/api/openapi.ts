/**
 * The OpenAPI 3.0 document of tkvm's Firecracker-compatible API, made from
 * the same zod schemas the server validates with (schema.ts) and the route
 * table it answers (http-server.ts). scripts/gen-api-doc.mjs writes it to
 * docs/api.yaml; openapi.test.ts fails when that file is out of date.
 */
import { z } from 'zod';
import { apiSchemas } from './schema.js';
import { ROUTES } from './http-server.js';
import { FIRECRACKER_API_VERSION } from './resources/vm-state.js';
import { toYaml } from './yaml.js';
import './resources/index.js';

/** Request and response bodies of each route, by `METHOD path`: component names. */
const BODIES: Record<string, { request?: string; response?: string; summary: string }> = {
  'GET /': { response: 'InstanceInfo', summary: 'The instance: its ID and state (Not started, Running, Paused).' },
  'GET /version': { response: 'FirecrackerVersion', summary: 'The Firecracker API version tkvm follows.' },
  'PUT /actions': { request: 'InstanceActionInfo', summary: 'InstanceStart (pre-boot), SendCtrlAltDel (post-boot), FlushMetrics.' },
  'GET /machine-config': { response: 'MachineConfiguration', summary: 'The machine configuration (defaults: 1 vCPU, 128 MiB).' },
  'PUT /machine-config': { request: 'MachineConfiguration', summary: 'Sets the machine configuration. Pre-boot only.' },
  'PATCH /machine-config': { request: 'MachineConfigurationUpdate', summary: 'Changes some machine configuration fields. Pre-boot only.' },
  'PUT /boot-source': { request: 'BootSource', summary: 'Sets the kernel, initrd and command line. Pre-boot only.' },
  'PUT /drives/{id}': { request: 'Drive', summary: 'Creates or replaces a drive. Pre-boot only.' },
  'PATCH /drives/{id}': { request: 'PartialDrive', summary: 'A new file for a drive. After boot the device re-opens path_on_host (the same path reads its size anew) and the guest gets the new capacity through a virtio config change; before boot it replaces path_on_host (Firecracker answers 400 there).' },
  'PUT /network-interfaces/{id}': { request: 'NetworkInterface', summary: 'Creates or replaces a NIC on a TAP device. Pre-boot only.' },
  'PATCH /network-interfaces/{id}': { request: 'PartialNetworkInterface', summary: 'Post-boot only; tkvm has no rate limiters, so only empty ones are accepted.' },
  'PUT /entropy': { request: 'EntropyDevice', summary: 'Adds the virtio-rng device. Pre-boot only.' },
  'PUT /logger': { request: 'Logger', summary: 'Sets the log level and file. Pre-boot only.' },
  'PUT /metrics': { request: 'Metrics', summary: 'Sets the metrics file, once. Pre-boot only.' },
  'PATCH /vm': { request: 'Vm', summary: 'Pauses or resumes the VM. Post-boot only.' },
  'GET /vm/config': { response: 'FullVmConfiguration', summary: 'Every configured resource.' },
  'PUT /vsock': { request: 'Vsock', summary: 'Not supported yet: answers 400.' },
  'PUT /balloon': { request: 'Balloon', summary: 'Not supported yet: answers 400.' },
  'PATCH /balloon': { request: 'BalloonUpdate', summary: 'Not supported yet: answers 400.' },
  'PATCH /balloon/statistics': { request: 'BalloonStatsUpdate', summary: 'Not supported yet: answers 400.' },
  'PUT /snapshot/create': { request: 'SnapshotCreateParams', summary: 'Not supported until issue 13: answers 400.' },
  'PUT /snapshot/load': { request: 'SnapshotLoadParams', summary: 'Not supported until issue 13: answers 400.' },
};

const ref = (name: string): Record<string, string> => ({ $ref: `#/components/schemas/${name}` });

/** Component schemas without the $id zod writes into each. */
function componentSchemas(): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(apiSchemas, { target: 'openapi-3.0', uri: (id) => `#/components/schemas/${id}` }) as { schemas: Record<string, Record<string, unknown>> };
  const sorted: Record<string, unknown> = {};
  for (const name of Object.keys(schemas).sort()) {
    const { $id: _id, ...schema } = schemas[name]!;
    sorted[name] = schema;
  }
  return sorted;
}

function operation(method: string, path: string): Record<string, unknown> {
  const bodies = BODIES[`${method} ${path}`];
  const error = { description: 'Bad input, the wrong VM state, or a feature tkvm lacks', content: { 'application/json': { schema: ref('Error') } } };
  const op: Record<string, unknown> = {
    summary: bodies?.summary ?? 'Not supported by tkvm: answers 400.',
    operationId: `${method.toLowerCase()}${path.replace(/[{}]/g, '').split(/[/-]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('') || 'Root'}`,
  };
  if (path.includes('{id}')) op['parameters'] = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];
  if (bodies?.request) op['requestBody'] = { required: true, content: { 'application/json': { schema: ref(bodies.request) } } };
  const responses: Record<string, unknown> = {};
  if (method === 'GET') {
    if (bodies?.response) responses['200'] = { description: 'OK', content: { 'application/json': { schema: ref(bodies.response) } } };
  } else if (bodies) responses['204'] = { description: 'Done (no body)' };
  responses['400'] = error;
  op['responses'] = responses;
  return op;
}

/** The OpenAPI 3.0 document as a plain object. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route.method, route.path);
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'tkvm Firecracker-compatible API',
      version: FIRECRACKER_API_VERSION,
      description: "Firecracker's HTTP API (v1.16) as tkvm serves it over a UNIX socket (tkvm firecracker --api-sock). Generated from src/api by scripts/gen-api-doc.mjs: do not edit. See docs/api.md.",
    },
    paths,
    components: { schemas: componentSchemas() },
  };
}

export function openApiYaml(): string {
  return `# Generated by scripts/gen-api-doc.mjs from src/api; do not edit.\n${toYaml(openApiDocument())}`;
}
