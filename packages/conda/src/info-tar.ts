// info.tar.gz: the package's info/ files without the 'info/' prefix, as deterministic bytes, so the same info
// always gives the same digest whichever format (or tool) the package came from.
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';

export interface InfoMember {
  kind: 'file' | 'symlink';
  /** File content (files only). */
  data?: Buffer;
  linkTarget?: string;
}

const EPOCH = new Date(0);
/** The gzip header's OS byte: fixed so macOS and Linux builds of zlib agree. */
const GZIP_OS_UNIX = 3;

/**
 * Members sorted by the bytes of their paths; mtime 0, uid/gid 0, no owner names, mode 0644 (0777 for links).
 * Modes are not kept: info/ files are data, and tools that transmute between formats change them (a
 * Windows-built .conda marks files executable that its .tar.bz2 does not), which would split one build's info.
 */
export async function buildInfoTarGz(members: Map<string, InfoMember>): Promise<Uint8Array> {
  const names = [...members.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk: unknown) => {
      chunks.push(chunk as Buffer);
    });
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const name of names) {
    const member = members.get(name)!;
    const common = { name, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };
    if (member.kind === 'symlink') {
      pack.entry({ ...common, type: 'symlink', linkname: member.linkTarget ?? '', mode: 0o777 });
    } else {
      const data = member.data ?? Buffer.alloc(0);
      pack.entry({ ...common, type: 'file', size: data.length, mode: 0o644 }, data);
    }
  }
  pack.finalize();
  await collected;
  const gz = gzipSync(Buffer.concat(chunks), { level: 9 });
  gz[9] = GZIP_OS_UNIX;
  return new Uint8Array(gz.buffer, gz.byteOffset, gz.byteLength);
}
