// What the CLI and the action show of a mirror result. A run over a large channel lists hundreds of thousands of
// files: printed output keeps the counts and at most a few files (problems first); the whole result goes to a file.
import type { MirroredArtifact, MirrorPatchReport, MirrorResult } from '../types.ts';

/** Files listed in printed output when not told otherwise. */
export const LISTED_ARTIFACTS = 100;

export interface PrintedMirrorResult extends Omit<MirrorResult, 'patches'> {
  /** Files left out of `artifacts` (they are in the result file). */
  artifactsNotListed: number;
  /** As in the result, without the `instructions` of a subdir not written (the result file has them). */
  patches: Array<Omit<MirrorPatchReport, 'instructions'>>;
}

/** Refused and failed files first, then the rest, each in the result's order. */
export function problemsFirst(artifacts: readonly MirroredArtifact[]): MirroredArtifact[] {
  const problem = (a: MirroredArtifact) => a.status === 'refused' || a.status === 'failed';
  return [...artifacts.filter(problem), ...artifacts.filter((a) => !problem(a))];
}

/** The result for printing: at most `max` artifacts, patch instructions left out. */
export function printedMirrorResult(result: MirrorResult, max = LISTED_ARTIFACTS): PrintedMirrorResult {
  const listed = problemsFirst(result.artifacts).slice(0, max);
  return {
    ...result,
    artifacts: listed,
    artifactsNotListed: result.artifacts.length - listed.length,
    patches: result.patches.map(({ instructions: _instructions, ...rest }) => rest),
  };
}

/** One line per subdir: what upstream patched and what happened to the channel's patch instructions. */
export function patchLine(p: MirrorPatchReport): string {
  const differ = `${p.patched} record(s) compared differ from their package's`;
  const odd = p.unrepresentable.length ? `, ${p.unrepresentable.length} difference(s) patches cannot express` : '';
  switch (p.status) {
    case 'written':
      return `${p.subdir}: ${differ}${odd}; patch instructions updated (${p.changed} entr${p.changed === 1 ? 'y' : 'ies'} changed, ${p.records ?? 0} record(s) patched)`;
    case 'unchanged':
      return `${p.subdir}: ${differ}${odd}; patch instructions unchanged (${p.records ?? 0} record(s) patched)`;
    case 'failed':
      return `${p.subdir}: ${differ}${odd}; patch instructions NOT stored (see the errors)`;
    default:
      return `${p.subdir}: ${differ}${odd}; patch instructions not written (staging, dry run or patches off)`;
  }
}
