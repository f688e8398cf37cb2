/**
 * The schema registry of the API: every resource module defines its
 * request and response bodies here once (zod 4), the server and the config
 * file validate with them, and openapi.ts turns the same registry into
 * docs/api.yaml.
 */
import { z } from 'zod';
import { invalidBody } from './errors.js';

/** Every named schema of the API, keyed by its OpenAPI component name. */
export const apiSchemas = z.registry<{ id: string; description?: string }>();

/** Registers `schema` as the component `id` and returns it. */
export function component<T extends z.ZodType>(id: string, description: string, schema: T): T {
  apiSchemas.add(schema, { id, description });
  return schema;
}

/**
 * Firecracker's config file writes absent optional fields as null (serde's
 * Option): optional fields accept a missing key and null alike.
 */
export function optional<T extends z.ZodType>(schema: T): z.ZodOptional<z.ZodNullable<T>> {
  return schema.nullable().optional();
}

/** Firecracker's resource IDs (drive_id, iface_id): ASCII letters, digits and '_', 1 to 64. */
export const ResourceId = z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'must be 1 to 64 ASCII letters, digits or underscores');

/** A host path: non-empty, no NUL byte. */
export const HostPath = z.string().min(1, 'must not be empty').refine((s) => !s.includes('\0'), 'must not contain a NUL byte');

/** One line naming every problem zod found, e.g. `vcpu_count: Too big: expected number to be <=32`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      if (issue.code === 'unrecognized_keys') return `${where}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      return `${where}${issue.message}`;
    })
    .join('; ');
}

/** Validates `body` against `schema`; a mismatch is an ApiError naming `what` and every problem. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown, what: string): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw invalidBody(`Invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}
