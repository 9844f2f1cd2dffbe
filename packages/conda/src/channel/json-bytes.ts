// Whole index files at conda-forge's size, as the bytes json.dumps(indent=2, sort_keys=True) writes them (json.ts
// serializes single values). A subdir's repodata.json can pass 500 MB: more than one V8 string may hold, and
// building it record by record (a string per record, then one big concatenation) doubles the heap a
// 700,000-record build needs. Instead, map entries are written in batches: one native JSON.stringify per batch of
// records whose keys are already in order, straight into Buffers.
import { asciiJson, canonicalize, isIntegerKey, pythonDumps, pythonString } from './json.ts';

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
    if (isIntegerKey(key) || key === '__proto__') return NEEDS_SLOW_PATH;
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
    out.text(asciiJson(text.slice(BATCH_HEAD.length, text.length - BATCH_TAIL.length)));
    written += inBatch;
    batch = {};
    inBatch = 0;
  };
  for (const [key, value] of entries) {
    if (Object.hasOwn(batch, key)) flush(); // a repeated key stays repeated, as in the input
    const ordered = isIntegerKey(key) || key === '__proto__' ? NEEDS_SLOW_PATH : inJsonOrder(value);
    if (ordered === NEEDS_SLOW_PATH) {
      flush();
      out.text(`${written === 0 ? '{' : ','}\n    ${pythonString(key)}: ${asciiJson(pythonDumps(canonicalize(value).value, '    '))}`);
      written++;
      continue;
    }
    batch[key] = ordered;
    if (++inBatch >= BATCH_ENTRIES) flush();
  }
  flush();
  out.text(written === 0 ? '{}' : '\n  }');
}
