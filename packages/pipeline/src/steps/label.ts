// label: add or remove labels of promoted artifacts (marking a build broken is adding `broken`), recorded in the
// label log with who asked and why. Only artifacts production holds can be labelled; a change the artifact already
// has is not recorded again. reindex turns the log into the label indexes.
import os from 'node:os';
import pLimit from 'p-limit';
import { parseLabel, type Label } from '@oci-channel/conda';
import { formatArtifactRef, normalizeSha256 } from '../core/artifact-ref.ts';
import { errorLine, openChannel, productionOptions } from '../core/open.ts';
import { fetchPackageManifest, locateArtifact } from '../core/package-manifest.ts';
import { reporter } from '../core/progress.ts';
import { applyLabelChange, effectiveLabels, type LabelOps } from '../index/labels.ts';
import { appendLabelChange, labelTextProblem, listLabelTags, readLabelChange, tagsOfFile, type LabelAction } from '../records/labels.ts';
import { findPromotion, listPromotionTags } from '../records/promotion-log.ts';
import type { ArtifactRef, LabeledArtifact, LabelOptions, LabelResult } from '../types.ts';
import { resolveConcurrency } from '../defaults.ts';

/** Who runs the change when not told: the GitHub actor in a workflow, else the login name. */
export function defaultActor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GITHUB_ACTOR) return env.GITHUB_ACTOR;
  try {
    return os.userInfo().username;
  } catch {
    return '';
  }
}

/** The requested changes, checked before anything is read: labels parsed, none both added and removed. */
function requestedChanges(o: LabelOptions): Array<{ action: LabelAction; label: Label }> {
  const changes = [
    ...(o.add ?? []).map((l) => ({ action: 'add' as const, label: parseLabel(l, '--add') })),
    ...(o.remove ?? []).map((l) => ({ action: 'remove' as const, label: parseLabel(l, '--remove') })),
  ];
  if (changes.length === 0) throw new Error('no label change given: add or remove at least one label (e.g. add broken)');
  const both = changes.find((c) => c.action === 'add' && changes.some((d) => d.action === 'remove' && d.label === c.label));
  if (both) throw new Error(`label ${both.label} is both added and removed: ask for one`);
  return changes;
}

/** `at`, or just after the log tag `previous` when a clock behind it would make the new change sort before it. */
function laterThan(previous: string | undefined, at: Date): Date {
  const m = previous ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})-/.exec(previous) : null;
  if (!m) return at;
  const last = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
  return at.getTime() > last ? at : new Date(last + 1);
}

export async function label(o: LabelOptions): Promise<LabelResult> {
  const changes = requestedChanges(o);
  const actor = (o.actor ?? defaultActor()).trim();
  const actorProblem = labelTextProblem('actor', actor);
  if (actorProblem) throw new Error(actorProblem);
  const reason = o.reason?.trim() || undefined;
  const reasonProblem = reason === undefined ? undefined : labelTextProblem('reason', reason);
  if (reasonProblem) throw new Error(reasonProblem);
  if (o.artifacts.length === 0) throw new Error('no artifact given: name the promoted artifacts as SUBDIR/FILENAME');

  const report = reporter(o.progress, 'label');
  const opened = openChannel(o.channel, productionOptions(o));
  const store = opened.store;
  const now = o.now ?? (() => new Date());
  try {
    // Both logs are listed once; each artifact then reads only its own entries (their keys are in the tags).
    const [promotionTags, labelTags] = await Promise.all([listPromotionTags(store), listLabelTags(store)]);
    const limit = pLimit(resolveConcurrency(o.concurrency, 'label'));
    const one = async (ref: ArtifactRef): Promise<LabeledArtifact> => {
      const artifact = formatArtifactRef(ref);
      const refused = (why: string): LabeledArtifact => ({ subdir: ref.subdir, filename: ref.filename, status: 'refused', reason: `${artifact}: ${why}` });
      try {
        const where = locateArtifact(ref);
        const manifest = await fetchPackageManifest(store, where.repository, where.tag);
        const layer = manifest?.view.packages.find((p) => p.filename === ref.filename);
        if (!layer) return refused(`not in ${store.display}; only promoted artifacts can be labelled`);
        const declared = normalizeSha256(ref.sha256);
        if (declared !== undefined && declared !== layer.sha256) return refused(`declared sha256 ${declared} but the channel holds ${layer.sha256}; nothing recorded`);

        const promoted = (await findPromotion(store, ref.subdir, ref.filename, promotionTags))?.label;
        let ops: LabelOps | undefined;
        for (const tag of tagsOfFile(labelTags, ref.subdir, ref.filename)) {
          const change = await readLabelChange(store, tag);
          if (change.subdir !== ref.subdir || change.filename !== ref.filename) continue;
          ops = applyLabelChange(ops, change.label, change.action === 'add', tag) ?? ops;
        }
        const recorded: string[] = [];
        for (const change of changes) {
          const has = effectiveLabels(promoted, ops).includes(change.label);
          if (has === (change.action === 'add')) continue;
          const logged = await appendLabelChange(
            store,
            { subdir: ref.subdir, filename: ref.filename, label: change.label, action: change.action, actor, sha256: layer.sha256, ...(reason ? { reason } : {}) },
            laterThan(ops?.[change.label]?.[0], now()),
          );
          ops = applyLabelChange(ops, change.label, change.action === 'add', logged.logTag) ?? ops;
          recorded.push(`${change.action} ${change.label}`);
          report(`${change.action} ${change.label} (by ${actor})`, { artifact });
        }
        return {
          subdir: ref.subdir,
          filename: ref.filename,
          sha256: layer.sha256,
          status: recorded.length > 0 ? 'changed' : 'unchanged',
          labels: effectiveLabels(promoted, ops),
          ...(recorded.length > 0 ? { recorded } : {}),
        };
      } catch (error) {
        return refused(errorLine(error).replace(`${artifact}: `, ''));
      }
    };
    const artifacts = await Promise.all(o.artifacts.map((ref) => limit(() => one(ref))));
    return { ok: artifacts.every((a) => a.status !== 'refused'), artifacts };
  } finally {
    await opened.release();
  }
}
