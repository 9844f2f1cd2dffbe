// The label log: every admin change to a promoted artifact's labels (add or remove a label; marking a build broken
// is adding `broken`), append-only in the registry beside the promotion log. Repository
// `<channel>/oci_channel/labels`, one tiny artifact per change, its data in annotations (who, when, why), tagged
// `<UTC yyyymmddHHMMSSmmm>-<16 hex of sha256(subdir/filename)>-<8 hex of sha256(action:label)>`.
// reindex folds the log into each file's labels; nothing here is ever rewritten or deleted.
import { createHash } from 'node:crypto';
import type { Repository, Store } from '@oci-channel/oci';
import { isLabel, isValidSubdir, parsePackageFilename, type Label } from '@oci-channel/conda';
import { appendLogEntry, fileKey, listLogTags, logStamp, readLogEntry } from './append-log.ts';
import { PipelineError } from '../errors.ts';

export const LABEL_LOG_REPOSITORY = 'oci_channel/labels';
export const LABEL_ARTIFACT_TYPE = 'application/vnd.oci-channel.label.v1';

export const LabelAnnotation = {
  Subdir: 'org.oci-channel.subdir',
  Filename: 'org.oci-channel.filename',
  Label: 'org.oci-channel.label',
  Action: 'org.oci-channel.label-action',
  /** Who asked for it: a GitHub login, a person's name. */
  Actor: 'org.oci-channel.actor',
  RecordedAt: 'org.oci-channel.recorded-at',
  Reason: 'org.oci-channel.reason',
  /** The artifact's sha256 when the change was recorded (production never changes a file: a cross-check). */
  Sha256: 'org.oci-channel.sha256',
} as const;

export type LabelAction = 'add' | 'remove';

export interface LabelChange {
  subdir: string;
  filename: string;
  label: Label;
  action: LabelAction;
  actor: string;
  reason?: string;
  sha256?: string;
}

export interface LoggedLabelChange extends LabelChange {
  /** RFC 3339. */
  recordedAt: string;
  logTag: string;
  logDigest: string;
}

const LABEL_TAG_RE = /^\d{17}-[0-9a-f]{16}-[0-9a-f]{8}$/;
export const MAX_ACTOR_LENGTH = 100;
export const MAX_REASON_LENGTH = 500;

export function labelLogRepository(store: Store): Repository {
  return store.repository(LABEL_LOG_REPOSITORY);
}

export function labelLogTag(at: Date, change: Pick<LabelChange, 'subdir' | 'filename' | 'action' | 'label'>): string {
  const op = createHash('sha256').update(`${change.action}:${change.label}`).digest('hex').slice(0, 8);
  return `${logStamp(at)}-${fileKey(change.subdir, change.filename)}-${op}`;
}

/** Why an actor or reason cannot be recorded (one line, bounded), or undefined. */
export function labelTextProblem(what: 'actor' | 'reason', value: string): string | undefined {
  const max = what === 'actor' ? MAX_ACTOR_LENGTH : MAX_REASON_LENGTH;
  if (what === 'actor' && !value.trim()) return 'the actor is empty: say who asks for the change';
  if (value.length > max) return `the ${what} is longer than ${max} characters`;
  if (/[\x00-\x1f\x7f]/.test(value)) return `the ${what} holds a line break or control character`;
  return undefined;
}

export async function appendLabelChange(store: Store, change: LabelChange, at = new Date()): Promise<LoggedLabelChange> {
  const recordedAt = at.toISOString();
  const logTag = labelLogTag(at, change);
  const logDigest = await appendLogEntry(
    labelLogRepository(store),
    LABEL_ARTIFACT_TYPE,
    {
      [LabelAnnotation.Subdir]: change.subdir,
      [LabelAnnotation.Filename]: change.filename,
      [LabelAnnotation.Label]: change.label,
      [LabelAnnotation.Action]: change.action,
      [LabelAnnotation.Actor]: change.actor,
      [LabelAnnotation.RecordedAt]: recordedAt,
      ...(change.reason ? { [LabelAnnotation.Reason]: change.reason } : {}),
      ...(change.sha256 ? { [LabelAnnotation.Sha256]: change.sha256 } : {}),
    },
    logTag,
  );
  return { ...change, recordedAt, logTag, logDigest };
}

/** Label log tags in time order, optionally only those after `after`. */
export async function listLabelTags(store: Store, after?: string): Promise<string[]> {
  return listLogTags(labelLogRepository(store), LABEL_TAG_RE, after);
}

/** The tags of one file's changes (its key is in the tag: no entry is read to find them). */
export function tagsOfFile(tags: string[], subdir: string, filename: string): string[] {
  const key = `-${fileKey(subdir, filename)}-`;
  return tags.filter((t) => t.includes(key));
}

/** Reads one change; an entry whose fields are not what this module writes is refused with a one-line reason. */
export async function readLabelChange(store: Store, logTag: string): Promise<LoggedLabelChange> {
  const entry = await readLogEntry(labelLogRepository(store), logTag, 'label log entry');
  const { field } = entry;
  const change = {
    subdir: field(LabelAnnotation.Subdir),
    filename: field(LabelAnnotation.Filename),
    label: field(LabelAnnotation.Label),
    action: field(LabelAnnotation.Action),
    actor: field(LabelAnnotation.Actor),
    recordedAt: field(LabelAnnotation.RecordedAt),
    reason: entry.optional(LabelAnnotation.Reason),
    sha256: entry.optional(LabelAnnotation.Sha256),
  };
  const bad = (why: string) => new PipelineError(`label log entry ${logTag} ${why}; it was not written by oci-channel, skipped`);
  if (!isValidSubdir(change.subdir)) throw bad(`names subdir ${JSON.stringify(change.subdir.slice(0, 40))}`);
  try {
    parsePackageFilename(change.filename);
  } catch {
    throw bad(`names file ${JSON.stringify(change.filename.slice(0, 80))}`);
  }
  if (!isLabel(change.label)) throw bad(`names label ${JSON.stringify(change.label.slice(0, 70))}`);
  if (change.action !== 'add' && change.action !== 'remove') throw bad(`has action ${JSON.stringify(change.action.slice(0, 20))}`);
  if (labelLogTag(new Date(0), { ...change, label: change.label, action: change.action }).slice(18) !== logTag.slice(18)) throw bad('does not match its tag');
  return {
    subdir: change.subdir,
    filename: change.filename,
    label: change.label,
    action: change.action,
    actor: change.actor,
    recordedAt: change.recordedAt,
    ...(change.reason ? { reason: change.reason } : {}),
    ...(change.sha256 ? { sha256: change.sha256 } : {}),
    logTag,
    logDigest: entry.digest,
  };
}
