// bzip2 decompression as a stream. The native `bzip2` program is about ten times faster than the pure
// JavaScript decoder, so it is used when it is on PATH; unbzip2-stream is the fallback.
// OCI_CHANNEL_BZIP2=js|native forces one (tests run both).
import { spawn, spawnSync } from 'node:child_process';
import { PassThrough, type Readable, type Writable } from 'node:stream';
// Imported statically: the actions are bundled by ncc, which bundles only what it can trace.
import unbzip2Stream from 'unbzip2-stream';

let nativeAvailable: boolean | undefined;

function useNative(): boolean {
  const forced = process.env.OCI_CHANNEL_BZIP2;
  if (forced === 'js') return false;
  if (forced === 'native') return true;
  nativeAvailable ??= spawnSync('bzip2', ['--help'], { stdio: 'ignore' }).status === 0;
  return nativeAvailable;
}

export interface Bunzip2 {
  /** Write compressed bytes here. */
  input: Writable;
  /** Decompressed bytes; ends only once the whole input decoded cleanly, errors otherwise. */
  output: Readable;
  /** Stops the decoder (on any failure downstream). */
  abort(): void;
}

export function bunzip2(): Bunzip2 {
  if (!useNative()) {
    // unbzip2-stream is a legacy (through) stream: keep it between two modern streams so pipeline() and
    // error handling only ever see those.
    const decoder = unbzip2Stream();
    const input = new PassThrough();
    const output = new PassThrough();
    decoder.on('error', (error: Error) => output.destroy(new Error(error.message)));
    input.on('error', (error) => decoder.destroy(error));
    input.pipe(decoder).pipe(output);
    return { input, output, abort: () => (decoder.destroy(), input.destroy(), output.destroy()) };
  }
  const child = spawn('bzip2', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  child.stdout.pipe(output, { end: false });
  // EPIPE when the child dies first: the exit status tells the real story.
  child.stdin.on('error', () => undefined);
  child.on('error', (error) => output.destroy(error));
  child.on('close', (code, signal) => {
    if (code === 0) output.end();
    else if (!output.destroyed) {
      const why = stderr.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('bzip2: Success')) ?? `exit ${code ?? signal}`;
      output.destroy(new Error(why.replace(/^bzip2: /, '')));
    }
  });
  return {
    input: child.stdin,
    output,
    abort: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      output.destroy();
    },
  };
}
