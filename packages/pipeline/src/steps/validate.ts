// validate: check staged artifacts the way conda-forge's copy service does (who uploaded, declared hash, name
// grammar, ownership) and further (the v0 manifest shape, the package read and checked in full in a child process
// without secrets, the staged manifest equal to the canonical one the package yields, no different artifact in
// production), then record the verdict on the staging manifest.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { DeniedError, sha256Digest, UnauthorizedError, type Store } from '@oci-channel/oci';
import { canonicalManifestDifference, parseLabel } from '@oci-channel/conda';
import { artifactReason, formatArtifactRef, normalizeSha256, withoutSubject } from '../core/artifact-ref.ts';
import { fetchPackageManifest, locateArtifact, type StagedLocation } from '../core/package-manifest.ts';
import { downloadBlob } from '../core/blobs.ts';
import { errorLine, openChannel, productionOptions, stagingOptions, throwIfUnreachable } from '../core/open.ts';
import { assertOwnersDirectory, assertSeparateChannels } from '../core/guards.ts';
import { checkOwnership } from '../identity/owners.ts';
import { IdentityError } from '../identity/errors.ts';
import { describeUploader, resolveUploader, uploaderLabel } from '../identity/uploader.ts';
import { packageReader, type PackageReader } from '../core/package-reader.ts';
import { byteTicker, reporter, type Reporter } from '../core/progress.ts';
import type { ArtifactRef, ArtifactVerdict, Check, UploaderIdentity, ValidateOptions, ValidateResult } from '../types.ts';
import { recordVerdict } from '../records/verdict.ts';
import { resolveVerdictKey, type VerdictKey } from '../records/verdict-key.ts';
import { resolveConcurrency } from '../defaults.ts';

interface ValidateContext {
  staging: Store;
  production: Store;
  options: ValidateOptions;
  report: Reporter;
  /** Signs recorded verdicts; without it they are recorded unsigned (and promote will not trust them). */
  verdictKey?: VerdictKey | undefined;
  /** Who uploaded: verified from the identity token, or a name given for local use. */
  uploader?: UploaderIdentity | undefined;
  /** Opens the untrusted archives, in a child process that holds no secret. */
  reader: PackageReader;
}

export async function validateOne(ctx: ValidateContext, ref: ArtifactRef): Promise<ArtifactVerdict> {
  const artifact = formatArtifactRef(ref);
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail?: string) => {
    checks.push(detail === undefined ? { name, ok } : { name, ok, detail });
    return ok;
  };
  const finish = (extra: Partial<ArtifactVerdict> = {}): ArtifactVerdict => {
    const failed = checks.find((c) => !c.ok);
    const declared = normalizeSha256(ref.sha256);
    return {
      subdir: ref.subdir,
      filename: ref.filename,
      ...(declared ? { sha256: declared } : {}),
      verdict: failed ? 'failed' : 'passed',
      checks,
      ...(failed ? { reason: artifactReason(ref, failed.detail ?? failed.name) } : {}),
      ...extra,
    };
  };

  // 1. The name (the same grammar the copy service checks before anything else).
  let where: StagedLocation;
  try {
    where = locateArtifact(ref);
    check('filename', true, `${where.name} ${where.version} ${where.build}`);
  } catch (error) {
    check('filename', false, errorLine(error));
    return finish();
  }
  const declared = normalizeSha256(ref.sha256);
  if (ref.sha256 !== undefined && !declared) {
    check('declared-sha256', false, `declared sha256 ${JSON.stringify(ref.sha256)} is not 64 hex digits`);
    return finish();
  }

  // 2. The staged manifest, digest-verified by the store, in the strict v0 shape.
  const stagingRepo = ctx.staging.repository(where.repository);
  let staged;
  try {
    staged = await fetchPackageManifest(ctx.staging, where.repository, where.tag);
  } catch (error) {
    throwIfUnreachable(error);
    check('manifest-shape', false, errorLine(error));
    return finish();
  }
  if (!staged) {
    check('staged', false, `not found in staging ${stagingRepo.display}:${where.tag}; upload it first`);
    return finish();
  }
  const manifestDigest = staged.descriptor.digest;
  check('manifest-shape', true, `v0 package manifest ${manifestDigest}`);
  const view = staged.view;
  const layer = view.packages.find((p) => p.filename === ref.filename);
  const consistent =
    view.subdir === ref.subdir && view.name === where.name && view.version === where.version && view.build === where.build;
  check(
    'manifest-consistency',
    consistent && layer !== undefined,
    !layer
      ? `the staged manifest has no layer for ${ref.filename} (it holds ${view.packages.map((p) => p.filename).join(', ') || 'none'}); upload ${ref.filename} again`
      : consistent
        ? 'subdir, name, version and build agree with the filename'
        : `the manifest says ${view.subdir}/${view.name}-${view.version}-${view.build}, not ${artifact}`,
  );
  if (!layer) return finish({ manifestDigest });

  // 3. The declared hash against the staged layer (cheap, before downloading anything).
  if (declared) {
    check('sha256', layer.sha256 === declared, layer.sha256 === declared ? `matches the declared ${declared}` : `declared sha256 ${declared} but staging holds ${layer.sha256}`);
  } else {
    check('sha256', true, `none declared; staging holds ${layer.sha256}`);
  }

  // 4. The package itself: streamed to a temp file while hashing, then read and checked in full.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-validate-'));
  try {
    const file = path.join(dir, 'package');
    let download;
    try {
      const ticker = byteTicker((bytes) => ctx.report('downloading', { artifact, bytes, totalBytes: layer.size }));
      download = await downloadBlob(stagingRepo, layer.descriptor.digest, layer.descriptor.size, file, {
        onProgress: (bytes) => ticker.tick(bytes),
        signal: ctx.options.signal,
      });
    } catch (error) {
      check('download', false, errorLine(error));
      return finish({ manifestDigest, size: layer.size });
    }
    check('download', download.sha256 === layer.sha256 && download.size === layer.size, `${download.size} bytes, sha256 ${download.sha256}`);
    let pkg;
    try {
      // Reading every member of a large package takes a while: say so (progress renderers repeat it while it lasts).
      ctx.report('checking every member of the package', { artifact, totalBytes: layer.size });
      pkg = await ctx.reader.read(file, { filename: ref.filename });
      check('package', true, `${pkg.name} ${pkg.version} ${pkg.build} (${pkg.subdir})`);
    } catch (error) {
      check('package', false, errorLine(error));
    }
    if (pkg) {
      check('index-json-subdir', pkg.subdir === ref.subdir, pkg.subdir === ref.subdir ? `index.json subdir is ${pkg.subdir}` : `index.json says subdir ${pkg.subdir}, the artifact is under ${ref.subdir}`);
      const infoDigest = sha256Digest(pkg.infoTarGz);
      const indexDigest = sha256Digest(pkg.indexJsonBytes);
      const infoOk = infoDigest === view.infoTarGz.digest && indexDigest === view.indexJson.digest;
      check(
        'info-layers',
        infoOk,
        infoOk
          ? 'info.tar.gz and index.json layers equal the package'
          : infoDigest !== view.infoTarGz.digest
            ? `info.tar.gz layer ${view.infoTarGz.digest} differs from the package's own info (${infoDigest}); re-upload`
            : `index.json layer ${view.indexJson.digest} differs from the package's index.json (${indexDigest}); re-upload`,
      );
      const mdOk = pkg.md5 === layer.md5 && pkg.size === layer.size;
      check('layer-metadata', mdOk, mdOk ? 'md5 and size annotations agree' : `the manifest says md5 ${layer.md5} size ${layer.size}, the package has md5 ${pkg.md5} size ${pkg.size}`);
      // Everything promote copies and reindex publishes (run_exports, about) must be what the package yields.
      const difference = canonicalManifestDifference(staged.manifest, pkg);
      check(
        'canonical-manifest',
        difference === undefined,
        difference === undefined ? 'the staged manifest is the one the package yields' : `the staged manifest differs from the one the package yields: ${difference}; upload it again`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  // 5. Who may publish this name.
  if (ctx.options.owners !== undefined) {
    const owner = await checkOwnership(ctx.options.owners, where.name, ctx.uploader?.name);
    check('owner', owner.ok, `${owner.detail} (${describeUploader(ctx.uploader)})`);
  }

  // 6. Production never gets a different artifact under a name it already serves.
  try {
    const inProduction = await fetchPackageManifest(ctx.production, where.repository, where.tag);
    const same = inProduction?.view.packages.find((p) => p.filename === ref.filename);
    if (!same) check('production-conflict', true, 'not in production yet');
    else if (same.sha256 === layer.sha256) check('production-conflict', true, 'already in production with the same sha256');
    else check('production-conflict', false, `production already has a different ${ref.filename} (sha256 ${same.sha256}); bump the build number`);
  } catch (error) {
    throwIfUnreachable(error);
    check('production-conflict', false, `cannot read production: ${errorLine(error)}`);
  }

  const result = finish({ manifestDigest, size: layer.size });
  try {
    const recorded = await recordVerdict(stagingRepo, staged.descriptor, {
      verdict: result.verdict,
      checks,
      ...(ctx.uploader ? { uploader: uploaderLabel(ctx.uploader) } : {}),
      validatedAt: new Date().toISOString(),
      subdir: ref.subdir,
      filename: ref.filename,
      sha256: layer.sha256,
      manifestDigest,
    }, ctx.verdictKey);
    result.verdictDigest = recorded.digest;
  } catch (error) {
    // Without a recorded verdict promote re-validates; the checks above still stand for this run.
    const hint =
      error instanceof DeniedError || error instanceof UnauthorizedError
        ? '; verdicts are written with the staging credential: give validate one that may push to the staged package (on ghcr.io the identity that created it, docs/actions.md)'
        : '';
    check('verdict-recorded', false, `could not record the verdict on ${stagingRepo.display}@${manifestDigest}: ${errorLine(error)}${hint}`);
    return { ...finish({ manifestDigest, size: layer.size }) };
  }
  ctx.report(result.verdict === 'passed' ? 'passed' : `failed: ${withoutSubject(result.reason ?? '', artifact)}`, { artifact });
  return result;
}

/** Every artifact failed with the same identity reason: nothing is read, recorded or published. */
function refusedIdentity(refs: ArtifactRef[], error: IdentityError): ArtifactVerdict[] {
  return refs.map((ref) => ({
    subdir: ref.subdir,
    filename: ref.filename,
    ...(normalizeSha256(ref.sha256) ? { sha256: normalizeSha256(ref.sha256) } : {}),
    verdict: 'failed',
    checks: [{ name: 'identity', ok: false, detail: error.message }],
    reason: `${formatArtifactRef(ref)}: ${error.message}`,
  }));
}

/**
 * What validate and promote check before anything is opened: the guards (overlapping channels, a missing owners
 * checkout, a bad verdict key or label throw), then who uploaded. A refused identity token ends the request here:
 * `refused` holds every artifact failed with the reason, and nothing is read or written.
 */
export async function admitRequest(
  o: ValidateOptions,
  step: 'validate' | 'promote',
): Promise<{ report: Reporter; verdictKey: VerdictKey | undefined; uploader?: UploaderIdentity; refused?: ArtifactVerdict[] }> {
  assertSeparateChannels(o.staging, o.production);
  assertOwnersDirectory(o.owners);
  const verdictKey = resolveVerdictKey(o);
  if (o.label !== undefined) parseLabel(o.label, 'the promotion label');
  const report = reporter(o.progress, step);
  try {
    const uploader = await resolveUploader(o);
    if (uploader) report(`uploader ${describeUploader(uploader)}`);
    return { report, verdictKey, ...(uploader ? { uploader } : {}) };
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    report(`identity refused: ${error.message}`);
    return { report, verdictKey, refused: refusedIdentity(o.artifacts, error) };
  }
}

export async function validate(o: ValidateOptions): Promise<ValidateResult> {
  const { report, verdictKey, uploader, refused } = await admitRequest(o, 'validate');
  if (refused) return { ok: false, artifacts: refused };
  const staging = openChannel(o.staging, stagingOptions(o));
  const production = openChannel(o.production, productionOptions(o));
  try {
    const ctx: ValidateContext = { staging: staging.store, production: production.store, options: o, report, verdictKey, uploader, reader: packageReader() };
    const limit = pLimit(resolveConcurrency(o.concurrency, 'validate'));
    const artifacts = await Promise.all(
      o.artifacts.map((ref) =>
        limit(async () => {
          report('validating', { artifact: formatArtifactRef(ref) });
          try {
            return await validateOne(ctx, ref);
          } catch (error) {
            throwIfUnreachable(error);
            const reason = artifactReason(ref, errorLine(error));
            return { subdir: ref.subdir, filename: ref.filename, verdict: 'failed', checks: [{ name: 'error', ok: false, detail: errorLine(error) }], reason } satisfies ArtifactVerdict;
          }
        }),
      ),
    );
    return { ok: artifacts.length > 0 && artifacts.every((a) => a.verdict === 'passed'), artifacts, ...(uploader ? { uploader } : {}) };
  } finally {
    await Promise.all([staging.release(), production.release()]);
  }
}

