// Deterministic JSON exactly as conda-index writes it: Python's json.dumps(value, indent=2, sort_keys=True)
// plus a final newline, so our repodata.json is byte-identical to conda-index's for the same records.
// This file serializes values (a record, channeldata.json); json-bytes.ts writes whole index files as bytes.

/** A JSON value after canonicalize(): every object's keys inserted in sorted order. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// JS objects list integer-like keys first, numerically, whatever the insertion order: such keys need the
// slow serializer to keep Python's code-point order.
const INTEGER_KEY = /^(?:0|[1-9][0-9]{0,9})$/;

/** A key V8 would list first (an array index): '0'-'9' first, checked by the regex only then. */
export function isIntegerKey(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 48 && c <= 57 && INTEGER_KEY.test(key);
}

// Python's ensure_ascii escapes everything outside space..'~'; JSON.stringify already escapes control chars.
const NON_ASCII = /[\u007f-\uffff]/g;

function escapeNonAscii(text: string): string {
  return text.replace(NON_ASCII, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function hasNonAscii(text: string): boolean {
  NON_ASCII.lastIndex = 0;
  const found = NON_ASCII.test(text);
  NON_ASCII.lastIndex = 0;
  return found;
}

/** JSON text as Python's ensure_ascii writes it. */
export function asciiJson(text: string): string {
  return hasNonAscii(text) ? escapeNonAscii(text) : text;
}

/** Python-compatible key order: by UTF-16 code unit, which equals code-point order within the BMP. */
function sortedKeys(object: object): string[] {
  return Object.keys(object).sort();
}

export interface Canonical {
  value: JsonValue;
  /** Some object has an integer-like key, so JSON.stringify would reorder it. */
  integerKeys: boolean;
}

/**
 * A copy of `value` whose objects have sorted keys; `undefined` members are dropped (as JSON does).
 * Done once per record, so serializing a whole subdir is one JSON.stringify.
 */
export function canonicalize(value: unknown): Canonical {
  let integerKeys = false;
  const walk = (v: unknown): JsonValue => {
    if (v === null || typeof v !== 'object') return v as JsonValue;
    if (Array.isArray(v)) return v.map((item) => (item === undefined ? null : walk(item)));
    if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
    const out: Record<string, JsonValue> = {};
    for (const key of sortedKeys(v)) {
      const item = (v as Record<string, unknown>)[key];
      if (item === undefined || typeof item === 'function') continue;
      if (INTEGER_KEY.test(key)) integerKeys = true;
      // An own "__proto__" (JSON.parse makes one) stays a member; assigning it would set the prototype.
      Object.defineProperty(out, key, { value: walk(item), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return { value: walk(value), integerKeys };
}

/** json.dumps(indent=2, sort_keys=True) of an already canonical value, without the final newline. */
export function pythonDumps(value: JsonValue, indent: string): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${inner}${value.map((v) => pythonDumps(v, inner)).join(`,\n${inner}`)}\n${indent}]`;
  }
  const keys = sortedKeys(value);
  if (keys.length === 0) return '{}';
  const parts = keys.map((k) => `${JSON.stringify(k)}: ${pythonDumps(value[k] as JsonValue, inner)}`);
  return `{\n${inner}${parts.join(`,\n${inner}`)}\n${indent}}`;
}

/** Serializes a canonical value as conda-index does (2-space indent, sorted keys, ASCII, final newline). */
export function serializeCanonical(canonical: Canonical): string {
  const text = canonical.integerKeys ? pythonDumps(canonical.value, '') : JSON.stringify(canonical.value, null, 2);
  return `${asciiJson(text)}\n`;
}

function collectKeys(value: unknown, into: Set<string>): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) collectKeys(item, into);
    return;
  }
  for (const key in value) {
    into.add(key);
    collectKeys((value as Record<string, unknown>)[key], into);
  }
}

/**
 * The stableJson text of `value` (without the final newline) as it appears nested `depth` levels deep.
 * JSON.stringify with a sorted key list writes every object's keys in that list's order, integer-like keys
 * included, in native code: the fast path for 100,000 records.
 */
export function nestedStableJson(value: unknown, depth: number): string {
  const keys = new Set<string>();
  collectKeys(value, keys);
  let text = JSON.stringify(value, [...keys].sort(), 2);
  if (depth > 0 && text.includes('\n')) text = text.replace(/\n/g, `\n${'  '.repeat(depth)}`);
  return asciiJson(text);
}

/** A JSON string literal as Python's json.dumps writes it (ASCII only). */
export function pythonString(text: string): string {
  return asciiJson(JSON.stringify(text));
}

/** canonicalize + serializeCanonical. */
export function stableJson(value: unknown): string {
  return serializeCanonical(canonicalize(value));
}
