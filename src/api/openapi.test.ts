/** docs/api.yaml is the OpenAPI document the schemas make (regenerate with `npm run api-doc`). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openApiDocument, openApiYaml } from './openapi.js';
import { ROUTES } from './http-server.js';
import { toYaml } from './yaml.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('docs/api.yaml is up to date with src/api (npm run api-doc)', () => {
  const committed = readFileSync(path.join(REPO_ROOT, 'docs/api.yaml'), 'utf8');
  assert.ok(committed === openApiYaml(), 'docs/api.yaml differs from what the schemas give: run npm run api-doc and commit it');
});

test('every route is in the document, and every $ref names a component', () => {
  const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
  for (const route of ROUTES) assert.ok(doc.paths[route.path]?.[route.method.toLowerCase()], `${route.method} ${route.path}`);
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(refs.length > 20);
  for (const name of refs) assert.ok(doc.components.schemas[name], `missing component ${name}`);
  for (const name of ['MachineConfiguration', 'BootSource', 'Drive', 'NetworkInterface', 'Logger', 'Metrics', 'Vsock', 'Balloon', 'SnapshotCreateParams', 'InstanceActionInfo', 'Vm', 'FullVmConfiguration', 'Error']) {
    assert.ok(doc.components.schemas[name], name);
  }
  // Unknown fields are refused, and the document says so.
  assert.equal((doc.components.schemas['Drive'] as { additionalProperties: boolean }).additionalProperties, false);
});

test('the YAML writer quotes every string and nests blocks', () => {
  assert.equal(
    toYaml({ a: 'yes', 'b c': [1, true, null, { d: 'x: y' }, []], e: {}, f: { '200': 'ok' } }),
    'a: "yes"\n"b c":\n  - 1\n  - true\n  - null\n  - d: "x: y"\n  - []\ne: {}\nf:\n  "200": "ok"\n',
  );
});
