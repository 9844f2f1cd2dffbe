// Seeded randomness for the reliability tests, so a failing run can be replayed with the same seed.
import { createHash } from 'node:crypto';

/** A small, fast seeded PRNG (mulberry32): returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A float in [0, 1) fixed by the seed and a key: decisions keyed by what a request is (method, path,
 * how many times it was seen) do not depend on the order concurrent requests happen to arrive in.
 */
export function keyedRandom(seed: number, key: string): number {
  const hash = createHash('sha256').update(`${seed}\0${key}`).digest();
  return hash.readUInt32BE(0) / 4294967296;
}

/** The seed a test uses: RELIABILITY_SEED when set (to replay a run), else `fallback`. */
export function testSeed(fallback: number): number {
  const fromEnv = Number(process.env.RELIABILITY_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : fallback;
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.floor(random() * items.length)]!;
}

export function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
