// The package reader's child process (see package-reader.ts): reads the archives it is told to, with every check
// of readPackage, and answers with what it found. It holds no secret: its environment is an allow-list without
// credentials, tokens or the verdict key, and it never talks to a registry. Bundled as its own entry
// (dist/package-reader/index.js), so it must not use top-level await.
// Only the reader module: the child starts faster without the rest of the conda package.
import { readPackage, type ReadPackageOptions } from '@oci-channel/conda/read';

interface ReadRequest {
  id: number;
  file: string;
  options: ReadPackageOptions;
}

function send(message: unknown): void {
  process.send?.(message);
}

process.on('message', (message: ReadRequest) => {
  const { id, file, options } = message;
  readPackage(file, options).then(
    (info) => send({ id, ok: true, info }),
    (error: unknown) => send({ id, ok: false, name: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) }),
  );
});
// The parent went away (or closed the reader): nothing is left to do.
process.on('disconnect', () => process.exit(0));
