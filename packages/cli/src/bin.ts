// The command's entry: runs main on the process's arguments and exits with its status. The checkout's
// bin/oci-channel.js and the bundle dist/cli/index.js both start here (no top-level await: ncc cannot bundle it).
import { main } from './main.ts';

/** zstd (in node:zlib), the type stripping the checkout's bin uses, and the rest need Node 24. */
const MIN_NODE = 24;
const major = Number(process.versions.node.split('.')[0]);

if (major < MIN_NODE) {
  process.stderr.write(
    `oci-channel needs Node.js ${MIN_NODE} or newer; this is ${process.version} (${process.execPath}). Install Node ${MIN_NODE} (e.g. \`npm install -g node@${MIN_NODE}\` or your version manager) and run it again.\n`,
  );
  process.exit(1);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Let stdout drain (it may be a pipe) before exiting; open keep-alive sockets must not hold the process.
    process.stdout.write('', () => process.exit(code));
  },
  (error: unknown) => {
    process.stderr.write(`oci-channel: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
