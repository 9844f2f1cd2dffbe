// Checks of workflow and action.yml files beyond GitHub's parser: least-privilege permissions, pinned
// third-party actions, and no expression inside `run:` scripts (untrusted input must go through env:/with:).
import YAML from 'yaml';

export interface Finding {
  file: string;
  message: string;
}

/** Event fields an outsider controls (GitHub Security Lab's list, plus repository_dispatch's payload). */
const UNTRUSTED = [
  /github\.event\.client_payload/,
  /github\.event\.(issue|pull_request|discussion)\.(title|body)/,
  /github\.event\.(comment|review|review_comment)\.body/,
  /github\.event\.pages\b/,
  /github\.event\.(commits|head_commit)\b/,
  /github\.event\.pull_request\.head\.(ref|label|repo)/,
  /github\.event\.workflow_run\.(head_branch|head_commit|display_title)/,
  /github\.head_ref/,
];

const PINNED_RE = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(?:\/[^@\s]+)?@[0-9a-f]{40}$/;

type Step = { uses?: unknown; run?: unknown; name?: unknown };
type Job = { permissions?: unknown; steps?: Step[]; uses?: unknown };

export function lintWorkflow(file: string, text: string): Finding[] {
  const findings: Finding[] = [];
  const doc = YAML.parse(text) as { permissions?: unknown; jobs?: Record<string, Job>; concurrency?: unknown };
  if (doc.permissions === undefined) findings.push({ file, message: 'no top-level permissions: set permissions: {} (or read-only) and raise per job' });
  if (doc.permissions !== undefined && typeof doc.permissions === 'string' && doc.permissions !== 'read-all') {
    findings.push({ file, message: `top-level permissions is ${JSON.stringify(doc.permissions)}: use {} or read-only` });
  }
  for (const [id, job] of Object.entries(doc.jobs ?? {})) {
    if (job.permissions === undefined) findings.push({ file, message: `job ${id} has no permissions:` });
    if (job.permissions === 'write-all') findings.push({ file, message: `job ${id} has write-all permissions` });
    if (typeof job.uses === 'string') findings.push(...lintUses(file, text, job.uses, `job ${id}`));
    for (const [index, step] of (job.steps ?? []).entries()) {
      const where = `job ${id} step ${typeof step.name === 'string' ? JSON.stringify(step.name) : index + 1}`;
      if (typeof step.uses === 'string') findings.push(...lintUses(file, text, step.uses, where));
      if (typeof step.run === 'string') findings.push(...lintRun(file, step.run, where));
    }
  }
  return findings;
}

/** Composite actions have run: steps too; node actions must use node24. */
export function lintAction(file: string, text: string): Finding[] {
  const findings: Finding[] = [];
  const doc = YAML.parse(text) as { runs?: { using?: string; steps?: Step[] } };
  const using = doc.runs?.using;
  if (using?.startsWith('node') && using !== 'node24') findings.push({ file, message: `runs.using is ${using}: use node24` });
  for (const [index, step] of (doc.runs?.steps ?? []).entries()) {
    if (typeof step.uses === 'string') findings.push(...lintUses(file, text, step.uses, `step ${index + 1}`));
    if (typeof step.run === 'string') findings.push(...lintRun(file, step.run, `step ${index + 1}`));
  }
  return findings;
}

function lintRun(file: string, script: string, where: string): Finding[] {
  if (!script.includes('${{')) return [];
  const untrusted = UNTRUSTED.find((re) => re.test(script));
  return [
    {
      file,
      message: untrusted
        ? `${where}: run: interpolates untrusted ${untrusted.source.replace(/\\/g, '')}; pass it through env: or with:`
        : `${where}: run: contains a \${{ }} expression; pass values through env: so they are never parsed as shell`,
    },
  ];
}

function lintUses(file: string, text: string, uses: string, where: string): Finding[] {
  // Local actions (this repository, or the caller's checkout) and container images need no pin.
  if (uses.startsWith('./') || uses.startsWith('$/') || uses.startsWith('docker://')) return [];
  if (!PINNED_RE.test(uses)) return [{ file, message: `${where}: ${uses} is not pinned by a full 40-hex commit SHA` }];
  const line = text.split('\n').find((l) => l.includes(uses));
  if (!line || !/#\s*v\d/.test(line)) return [{ file, message: `${where}: ${uses} has no version comment (# vX.Y.Z)` }];
  return [];
}
