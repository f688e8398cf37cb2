/**
 * A YAML 1.2 writer for JSON data (objects, arrays, strings, numbers,
 * booleans, null), enough for docs/api.yaml: block mappings and sequences,
 * every string double-quoted as JSON writes it (a valid YAML
 * double-quoted scalar), so no value is ever read back as another type.
 */
function scalar(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new TypeError(`cannot write ${typeof value} as YAML`);
}

/** Keys that are plain words stay bare; the rest are quoted. */
function key(name: string): string {
  return /^[A-Za-z_/{}][A-Za-z0-9_./{}-]*$/.test(name) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(name) ? name : JSON.stringify(name);
}

function isComposite(value: unknown): value is object {
  return typeof value === 'object' && value !== null && (Array.isArray(value) ? value.length > 0 : Object.keys(value).length > 0);
}

function emptyComposite(value: unknown): string | undefined {
  if (Array.isArray(value) && value.length === 0) return '[]';
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) return '{}';
  return undefined;
}

function lines(value: unknown, indent: string): string[] {
  const out: string[] = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isComposite(item)) {
        const [first, ...rest] = lines(item, `${indent}  `);
        out.push(`${indent}- ${first!.trimStart()}`, ...rest);
      } else out.push(`${indent}- ${emptyComposite(item) ?? scalar(item)}`);
    }
    return out;
  }
  for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
    if (item === undefined) continue;
    if (isComposite(item)) out.push(`${indent}${key(name)}:`, ...lines(item, `${indent}  `));
    else out.push(`${indent}${key(name)}: ${emptyComposite(item) ?? scalar(item)}`);
  }
  return out;
}

/** `value` (a JSON object) as a YAML document. */
export function toYaml(value: Record<string, unknown>): string {
  return `${lines(value, '').join('\n')}\n`;
}
