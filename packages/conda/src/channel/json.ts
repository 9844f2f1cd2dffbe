// Deterministic JSON exactly as conda-index writes it: Python's json.dumps(value, indent=2, sort_keys=True)
// plus a final newline, so our repodata.json is byte-identical to conda-index's for the same records.

/** A JSON value after canonicalize(): every object's keys inserted in sorted order. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// JS objects list integer-like keys first, numerically, whatever the insertion order: such keys need the
// slow serializer to keep Python's code-point order.
const INTEGER_KEY = /^(?:0|[1-9][0-9]{0,9})$/;
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
function pythonDumps(value: JsonValue, indent: string): string {
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
  return `${hasNonAscii(text) ? escapeNonAscii(text) : text}\n`;
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
  return hasNonAscii(text) ? escapeNonAscii(text) : text;
}

/** A JSON string literal as Python's json.dumps writes it (ASCII only). */
export function pythonString(text: string): string {
  const json = JSON.stringify(text);
  return hasNonAscii(json) ? escapeNonAscii(json) : json;
}

// --- whole index files at conda-forge's size ------------------------------------------------------------
// A subdir's repodata.json can pass 500 MB: more than one V8 string may hold, and building it record by record
// (a string per record, then one big concatenation) doubles the heap a 700,000-record build needs. Instead,
// map entries are written in batches: one native JSON.stringify per batch of records whose keys are already
// in order, straight into Buffers.

/**
 * Records per JSON.stringify call: enough to spend the time in native code, few enough that each string stays
 * in V8's young generation (under 128 KiB): big strings go to the old generation, whose collections get slower
 * as the records held grow, which made the cost per record grow with the channel.
 */
const BATCH_ENTRIES = 96;

/** Marks a value JSON.stringify cannot write as Python does (integer-like keys, non-plain objects). */
const NEEDS_SLOW_PATH = Symbol('needs the slow serializer');

function plainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A key V8 would list first (an array index): '0'-'9' first, checked by the regex only then. */
function integerLike(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 48 && c <= 57 && INTEGER_KEY.test(key);
}

/**
 * `value` itself when JSON.stringify already writes it in Python's key order (every object plain, keys sorted,
 * none integer-like), a copy with sorted keys when only the order is off, or NEEDS_SLOW_PATH.
 * Records read from index.json or repodata.json are nearly always in order already: no copy is made.
 */
function inJsonOrder(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as unknown;
      if (item === null || typeof item !== 'object') continue;
      const ordered = inJsonOrder(item);
      if (ordered === NEEDS_SLOW_PATH) return NEEDS_SLOW_PATH;
      if (ordered !== item) (copy ??= value.slice())[i] = ordered;
    }
    return copy ?? value;
  }
  if (!plainObject(value)) return NEEDS_SLOW_PATH;
  const keys = Object.keys(value);
  let sorted = true;
  let changed = false;
  const members: unknown[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (integerLike(key) || key === '__proto__') return NEEDS_SLOW_PATH;
    if (i > 0 && keys[i - 1]! > key) sorted = false;
    const item = (value as Record<string, unknown>)[key];
    const ordered = item !== null && typeof item === 'object' ? inJsonOrder(item) : item;
    if (ordered === NEEDS_SLOW_PATH) return NEEDS_SLOW_PATH;
    if (ordered !== item) changed = true;
    members[i] = ordered;
  }
  if (sorted && !changed) return value;
  const order = keys.map((key, i) => [key, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const copy: Record<string, unknown> = {};
  for (const [key, i] of order) copy[key] = members[i];
  return copy;
}

/**
 * ASCII JSON text written straight into large Buffers (never one huge string), joined once at the end.
 * Parts grow with what was written, so a file of any size takes a few parts and one final copy.
 */
export class JsonBytes {
  #parts: Buffer[] = [];
  #part: Buffer = Buffer.allocUnsafeSlow(0);
  #offset = 0;
  #length = 0;

  /**
   * Makes room for about `bytes` more in one part, so a file whose size is known roughly is written into one
   * Buffer and returned without the final copy (allocUnsafeSlow: room never written costs no memory).
   */
  reserve(bytes: number): void {
    if (bytes <= this.#part.byteLength - this.#offset) return;
    this.#close();
    this.#part = Buffer.allocUnsafeSlow(Math.ceil(bytes));
  }

  /** Appends text that is already ASCII (escaped). */
  text(text: string): void {
    if (text.length > this.#part.byteLength - this.#offset) {
      this.#close();
      this.#part = Buffer.allocUnsafeSlow(Math.max(text.length, this.#length, 1 << 20));
    }
    this.#offset += this.#part.write(text, this.#offset, 'latin1');
  }

  #close(): void {
    if (this.#offset === 0) return;
    this.#parts.push(this.#part.subarray(0, this.#offset));
    this.#length += this.#offset;
    this.#offset = 0;
  }

  toBuffer(): Buffer {
    this.#close();
    const out = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#length);
    this.#parts = [];
    this.#part = Buffer.allocUnsafeSlow(0);
    return out;
  }
}

const ascii = (text: string) => (hasNonAscii(text) ? escapeNonAscii(text) : text);

// JSON.stringify({p: {...}}, null, 2) puts the map's members exactly where a depth-1 map has them.
const BATCH_HEAD = '{\n  "p": {';
const BATCH_TAIL = '\n  }\n}';

/** About the bytes writeJsonMapAtDepth1 writes for `count` entries like these (an evenly spread sample). */
export function estimateJsonMapBytes(count: number, entryAt: (index: number) => readonly [string, unknown]): number {
  if (count === 0) return 2;
  const step = Math.max(1, Math.floor(count / 64));
  let sampled = 0;
  let bytes = 0;
  for (let i = 0; i < count; i += step) {
    const [key, value] = entryAt(i);
    bytes += JSON.stringify({ p: { [key]: value } }, null, 2).length - BATCH_HEAD.length - BATCH_TAIL.length + 1;
    sampled++;
  }
  return (bytes / sampled) * count;
}

/**
 * Writes a JSON map nested one level deep (`"packages": {...}` in repodata.json) as json.dumps(indent=2,
 * sort_keys=True, ensure_ascii=True) does, from entries already in key order. Values are written as they
 * are when their keys are in order, else from a sorted copy; the rare value that needs Python's slow order
 * (integer-like keys) is written on its own.
 */
export function writeJsonMapAtDepth1(out: JsonBytes, entries: Iterable<readonly [string, unknown]>): void {
  let batch: Record<string, unknown> = {};
  let inBatch = 0;
  let written = 0;
  const flush = () => {
    if (inBatch === 0) return;
    const text = JSON.stringify({ p: batch }, null, 2);
    out.text(written === 0 ? '{' : ',');
    out.text(ascii(text.slice(BATCH_HEAD.length, text.length - BATCH_TAIL.length)));
    written += inBatch;
    batch = {};
    inBatch = 0;
  };
  for (const [key, value] of entries) {
    if (Object.hasOwn(batch, key)) flush(); // a repeated key stays repeated, as in the input
    const ordered = integerLike(key) || key === '__proto__' ? NEEDS_SLOW_PATH : inJsonOrder(value);
    if (ordered === NEEDS_SLOW_PATH) {
      flush();
      out.text(`${written === 0 ? '{' : ','}\n    ${pythonString(key)}: ${ascii(pythonDumps(canonicalize(value).value, '    '))}`);
      written++;
      continue;
    }
    batch[key] = ordered;
    if (++inBatch >= BATCH_ENTRIES) flush();
  }
  flush();
  out.text(written === 0 ? '{}' : '\n  }');
}

/** canonicalize + serializeCanonical. */
export function stableJson(value: unknown): string {
  return serializeCanonical(canonicalize(value));
}
