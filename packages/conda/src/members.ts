// Safety rules for the members of a package's tar archives: the same checks whichever format they came in.
import type { Header } from 'tar-stream';

export type MemberKind = 'file' | 'directory' | 'symlink' | 'link';

export interface CheckedMember {
  /** Normalized: no leading './', no '.' components, no trailing '/'. */
  path: string;
  kind: MemberKind;
  linkTarget?: string;
}

/** Raised (as a plain Error carrying the reason) when a member is unsafe; readers wrap it in a PackageError. */
export class UnsafeMemberError extends Error {}

const KINDS: Record<string, MemberKind> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'link',
};

/** Splits on both separators: a Windows client would honor a backslash. */
function components(p: string): string[] {
  return p.split(/[/\\]/);
}

function isAbsolute(p: string): boolean {
  return p.startsWith('/') || p.startsWith('\\') || /^[a-zA-Z]:/.test(p);
}

/** Normalizes a member name, refusing absolute paths and any '..'. */
export function normalizeMemberPath(raw: string): string {
  if (raw.includes('\0')) throw new UnsafeMemberError(`member ${JSON.stringify(raw)} has a NUL byte in its name`);
  if (isAbsolute(raw)) throw new UnsafeMemberError(`member ${JSON.stringify(raw)} has an absolute path`);
  const parts = components(raw).filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new UnsafeMemberError(`member ${JSON.stringify(raw)} climbs out with '..'`);
  return parts.join('/');
}

/** Checks each member of one tar archive in order: duplicates, traversal, links that escape or are written through. */
export class MemberGuard {
  readonly #seen = new Set<string>();
  readonly #symlinks = new Set<string>();
  readonly #directories = new Set<string>();

  check(header: Pick<Header, 'name' | 'type' | 'linkname'>): CheckedMember | undefined {
    const type = header.type ?? 'file';
    const kind = KINDS[type];
    if (!kind) throw new UnsafeMemberError(`member ${JSON.stringify(header.name)} is a ${type}, which a package may not hold`);
    const memberPath = normalizeMemberPath(header.name);
    if (memberPath === '') {
      if (kind === 'directory') return undefined; // the archive root ('./')
      throw new UnsafeMemberError(`member ${JSON.stringify(header.name)} has an empty name`);
    }
    // Writing below a symlink member would write wherever the link points.
    const parts = memberPath.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (this.#symlinks.has(parent)) throw new UnsafeMemberError(`member ${JSON.stringify(header.name)} is written through the symlink ${JSON.stringify(parent)}`);
    }
    if (kind === 'directory') {
      if (this.#seen.has(memberPath)) throw new UnsafeMemberError(`member ${JSON.stringify(header.name)} appears twice`);
      this.#directories.add(memberPath);
      return { path: memberPath, kind };
    }
    if (this.#seen.has(memberPath) || this.#directories.has(memberPath)) throw new UnsafeMemberError(`member ${JSON.stringify(header.name)} appears twice`);
    this.#seen.add(memberPath);
    if (kind === 'symlink') {
      const target = header.linkname ?? '';
      if (!target) throw new UnsafeMemberError(`symlink ${JSON.stringify(header.name)} has no target`);
      if (isAbsolute(target)) throw new UnsafeMemberError(`symlink ${JSON.stringify(header.name)} points to the absolute path ${JSON.stringify(target)}`);
      // Resolve step by step, so a link through another link (cur -> ., par -> cur/..) is caught too.
      const stack = memberPath.split('/').slice(0, -1);
      const steps = components(target).filter((c) => c !== '' && c !== '.');
      for (const [index, step] of steps.entries()) {
        if (step === '..') {
          if (stack.length === 0) throw new UnsafeMemberError(`symlink ${JSON.stringify(header.name)} -> ${JSON.stringify(target)} escapes the package`);
          stack.pop();
          continue;
        }
        stack.push(step);
        if (index < steps.length - 1 && this.#symlinks.has(stack.join('/'))) {
          throw new UnsafeMemberError(`symlink ${JSON.stringify(header.name)} -> ${JSON.stringify(target)} goes through another symlink`);
        }
      }
      this.#symlinks.add(memberPath);
      return { path: memberPath, kind, linkTarget: target };
    }
    if (kind === 'link') {
      const target = normalizeMemberPath(header.linkname ?? '');
      if (!target || !this.#seen.has(target) || this.#symlinks.has(target)) {
        throw new UnsafeMemberError(`hard link ${JSON.stringify(header.name)} -> ${JSON.stringify(header.linkname ?? '')} does not point to an earlier file of the package`);
      }
      return { path: memberPath, kind, linkTarget: target };
    }
    return { path: memberPath, kind };
  }
}
