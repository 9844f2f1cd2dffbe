// Plans for bench/workers/floor.ts: the bare requests a publish of the same artifacts needs, built (untimed) from
// what the scenario already has: the OCI layouts the skopeo loop copies from, or the staged manifests promote reads.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import type { FloorItem, FloorPlan } from '../workers/floor.ts';

interface PlannedArtifact {
  repository: string;
  tag: string;
}

interface ManifestShape {
  mediaType?: string;
  config: { digest: string; size: number };
  layers: Array<{ digest: string; size: number }>;
}

async function items(store: Store, artifacts: PlannedArtifact[], blob: (repository: string, digest: string, size: number) => FloorItem['blobs'][number], target: (repository: string) => string): Promise<FloorItem[]> {
  const seen = new Set<string>();
  const out: FloorItem[] = [];
  for (const a of artifacts) {
    // The two formats of one build share a tag (and a manifest): one publish.
    if (seen.has(`${a.repository}:${a.tag}`)) continue;
    seen.add(`${a.repository}:${a.tag}`);
    const fetched = await store.repository(a.repository).fetchManifest(a.tag);
    const manifest = JSON.parse(Buffer.from(fetched.bytes).toString('utf8')) as ManifestShape;
    out.push({
      repository: target(a.repository),
      tag: a.tag,
      mediaType: fetched.descriptor.mediaType,
      manifest: Buffer.from(fetched.bytes).toString('base64'),
      blobs: [manifest.config, ...manifest.layers].map((d) => blob(a.repository, d.digest, d.size)),
    });
  }
  return out;
}

/** Upload the layouts' blobs (POST + PUT each) and manifests into `<prefix>/<repository>`. */
export async function uploadFloorPlan(file: string, layoutDir: string, artifacts: PlannedArtifact[], prefix: string, concurrency: number, singlePost = false): Promise<string> {
  const layout = openStore(`oci-layout:${layoutDir}`);
  try {
    const plan: FloorPlan = {
      registry: 'http://unset',
      concurrency,
      ...(singlePost ? { singlePost } : {}),
      items: await items(
        layout,
        artifacts,
        (repository, digest, size) => ({ digest, size, file: path.join(layoutDir, ...repository.split('/'), 'blobs', 'sha256', digest.slice('sha256:'.length)) }),
        (repository) => `${prefix}/${repository}`,
      ),
    };
    await writeFile(file, JSON.stringify(plan));
    return file;
  } finally {
    await layout.close();
  }
}

/** Mount every blob from `<from>/<repository>` into `<to>/<repository>` and PUT the staged manifest under its tag. */
export async function promoteFloorPlan(file: string, registryHost: string, artifacts: PlannedArtifact[], from: string, to: string, concurrency: number): Promise<string> {
  const staging = openStore(`oci+http://${registryHost}/${from}`);
  try {
    const plan: FloorPlan = {
      registry: `http://${registryHost}`,
      concurrency,
      items: await items(
        staging,
        artifacts,
        (repository, digest, size) => ({ digest, size, mountFrom: `${from}/${repository}` }),
        (repository) => `${to}/${repository}`,
      ),
    };
    await writeFile(file, JSON.stringify(plan));
    return file;
  } finally {
    await staging.close();
  }
}
