// One file from upstream into the destination: streamed to a temp file while hashed, checked against the
// upstream record (size, sha256, md5) BEFORE anything is pushed, read as a package (in full when the destination
// is production: no validate runs there), then pushed with upload's own per-package step in the v0 layout.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '@oci-channel/oci';
import { PackageError, readPackage, repodataRecord, type ChannelRecord } from '@oci-channel/conda';
import { errorLine } from '../core/open.ts';
import type { reporter } from '../core/progress.ts';
import { PipelineError, UploadConflictError } from '../errors.ts';
import { ConfigBlobs, uploadOne, type Uploaded } from '../steps/upload.ts';
import type { UploadedArtifact } from '../types.ts';
import type { Upstream, UpstreamFile } from '../upstream/index.ts';
import { WrongBytesError } from '../upstream/records.ts';

/** The file cannot be mirrored as upstream serves it, or the destination holds another file under its name. */
export class RefusedError extends PipelineError {}

export interface TransferContext {
  upstream: Upstream;
  store: Store;
  /** Read every member of the package (the destination is production: validate does not run). */
  fullRead: boolean;
  tmpDir: string;
  configs: ConfigBlobs;
  report: ReturnType<typeof reporter>;
  signal?: AbortSignal;
}

let counter = 0;

/**
 * Mirrors one file. Returns what was pushed and the record its package gives (for the upstream patch). Throws
 * RefusedError (nothing pushed) or another error naming the side that failed.
 */
export async function transferFile(
  ctx: TransferContext,
  file: UpstreamFile,
  /** Bytes fetched so far, as they come. */
  onBytes: (delta: number) => void,
): Promise<{ uploaded: UploadedArtifact; manifest?: Uint8Array; derived: ChannelRecord }> {
  const artifact = `${file.subdir}/${file.filename}`;
  const tmp = path.join(ctx.tmpDir, `${++counter}.part`);
  try {
    ctx.report('fetching', { artifact, totalBytes: file.size });
    let seen = 0;
    let got;
    try {
      got = await ctx.upstream.fetchPackage(file, tmp, {
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onBytes: (bytes) => {
          onBytes(bytes - seen);
          seen = bytes;
        },
      });
    } catch (error) {
      if (error instanceof WrongBytesError) throw new RefusedError(error.message);
      throw error;
    }
    if (got.size !== file.size || got.sha256 !== file.sha256 || (file.md5 !== undefined && got.md5 !== file.md5)) {
      throw new RefusedError(
        `upstream sent ${artifact} as ${got.size} bytes with sha256 ${got.sha256}${file.md5 !== undefined ? `, md5 ${got.md5}` : ''}, ` +
          `but its record says ${file.size} bytes, sha256 ${file.sha256}${file.md5 !== undefined ? `, md5 ${file.md5}` : ''}; refused, nothing pushed for it`,
      );
    }
    let pkg;
    try {
      pkg = await readPackage(tmp, { filename: file.filename, subdir: file.subdir, ...(ctx.fullRead ? {} : { metadataOnly: true }) });
    } catch (error) {
      if (error instanceof PackageError) throw new RefusedError(`upstream's ${artifact} is refused as a package: ${errorLine(error)}; nothing pushed for it`);
      throw error;
    }
    if (pkg.subdir !== file.subdir) {
      throw new RefusedError(`upstream serves ${artifact} under ${file.subdir}, but its info/index.json says subdir ${pkg.subdir}; refused, nothing pushed for it`);
    }
    if (pkg.sha256 !== file.sha256) throw new Error(`${artifact}: the temporary copy changed while it was read; retry`);
    ctx.report('pushing', { artifact, totalBytes: file.size });
    let uploaded: Uploaded;
    try {
      uploaded = await uploadOne(ctx.store, tmp, pkg, { report: ctx.report, configs: ctx.configs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    } catch (error) {
      if (error instanceof UploadConflictError) throw new RefusedError(`destination: ${errorLine(error)}`);
      throw new Error(`destination ${ctx.store.display}: ${errorLine(error)}`, { cause: error });
    }
    // The record a reindex of this package writes: index.json exactly as the package holds it (not as read
    // leniently), plus the file's md5, sha256 and size.
    const indexJson = JSON.parse(Buffer.from(pkg.indexJsonBytes).toString('utf8')) as Record<string, unknown>;
    return { uploaded: uploaded.result, ...(uploaded.manifest ? { manifest: uploaded.manifest } : {}), derived: repodataRecord(indexJson, pkg) };
  } finally {
    await rm(tmp, { force: true });
  }
}
