// Writes docs/api.yaml, the OpenAPI document of the Firecracker-compatible
// API, from the compiled schemas: `npm run api-doc` (it compiles first).
// src/api/openapi.test.ts fails when docs/api.yaml is out of date.
import { writeFileSync } from 'node:fs';
import { openApiYaml } from '../dist/src/api/openapi.js';

writeFileSync(new URL('../docs/api.yaml', import.meta.url), openApiYaml());
