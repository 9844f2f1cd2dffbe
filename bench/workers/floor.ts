// The registry's floor for a publish: only the requests any client must make to put these artifacts in place,
// with everything known beforehand (digests, manifests) and no checks, logs or verification. Each blob is either
// uploaded (POST + one monolithic PUT of its file, or one single POST where the registry takes it) or mounted from another repository (one POST); then the manifest
// is PUT under its tag. Not a peer people run: it shows how close oci-channel and the peers get to what this
// registry on this machine allows. Run: node bench/workers/floor.ts <plan.json> [registry-url]; prints one JSON line.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import { Agent, request } from 'undici';
import { peakRssBytes } from '../lib/peak-rss.ts';

export interface FloorBlob {
  digest: string;
  size: number;
  /** Upload this file... */
  file?: string;
  /** ...or mount the blob from this repository of the same registry. */
  mountFrom?: string;
}

export interface FloorItem {
  repository: string;
  tag: string;
  mediaType: string;
  /** The manifest's bytes, base64. */
  manifest: string;
  blobs: FloorBlob[];
}

export interface FloorPlan {
  /** http://host:port */
  registry: string;
  /** Artifacts in flight at once (each one's blobs go at once too). */
  concurrency: number;
  /** Upload each blob file in OCI's single POST (one request; the registry must take it) instead of POST + PUT. */
  singlePost?: boolean;
  items: FloorItem[];
}

// A main function, not top-level await: the bench runs this bundled by ncc, as the actions ship (bench/lib/bundle.ts).
async function main(): Promise<void> {
  const [planFile, registry] = process.argv.slice(2);
  if (!planFile) {
    console.error('usage: node bench/workers/floor.ts <plan.json> [registry-url]');
    process.exit(2);
  }
  const plan = JSON.parse(await readFile(planFile, 'utf8')) as FloorPlan;
  if (registry) plan.registry = registry;
  const dispatcher = new Agent({ connections: plan.concurrency * 2 });
  let requests = 0;

  async function call(method: string, url: string, options: { body?: Buffer | NodeJS.ReadableStream; headers?: Record<string, string> } = {}, expect: number[] = [201, 202]) {
    requests++;
    const res = await request(url, { method, dispatcher, ...(options.body ? { body: options.body as Buffer } : {}), headers: options.headers ?? {} });
    const text = await res.body.text();
    if (!expect.includes(res.statusCode)) throw new Error(`${method} ${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    return res;
  }

  async function putBlob(item: FloorItem, blob: FloorBlob): Promise<void> {
    const base = `${plan.registry}/v2/${item.repository}/blobs/uploads/`;
    if (blob.mountFrom) {
      const res = await call('POST', `${base}?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(blob.mountFrom)}`);
      if (res.statusCode === 201) return;
      throw new Error(`mount of ${blob.digest} into ${item.repository} was refused`);
    }
    if (plan.singlePost) {
      await call('POST', `${base}?digest=${encodeURIComponent(blob.digest)}`, { body: createReadStream(blob.file!), headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) } }, [201]);
      return;
    }
    const opened = await call('POST', base, {}, [202]);
    const location = new URL(String(opened.headers.location), plan.registry);
    location.searchParams.set('digest', blob.digest);
    await call('PUT', location.href, { body: createReadStream(blob.file!), headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) } }, [201]);
  }

  const limit = pLimit(plan.concurrency);
  await Promise.all(
    plan.items.map((item) =>
      limit(async () => {
        await Promise.all(item.blobs.map((blob) => putBlob(item, blob)));
        const body = Buffer.from(item.manifest, 'base64');
        await call('PUT', `${plan.registry}/v2/${item.repository}/manifests/${item.tag}`, { body, headers: { 'content-type': item.mediaType } }, [201]);
      }),
    ),
  );
  await dispatcher.close();
  process.stdout.write(`${JSON.stringify({ ok: true, items: plan.items.length, requests, maxRssBytes: peakRssBytes() })}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
