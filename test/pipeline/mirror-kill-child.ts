// Runs mirror into production with a checkpoint after every compared file and SIGKILLs itself:
//   push N:  at the first push after N files were mirrored (one package half-pushed, the ones before it pushed,
//            maybe not yet logged);
//   patch N: right after the Nth write of patch instructions (stored, but the files they cover not yet logged).
import { mirror } from '@oci-channel/pipeline';

const [from, to, mode, count] = process.argv.slice(2);
let mirrored = 0;
let written = 0;
await mirror({
  from: from!,
  to: to!,
  production: true,
  concurrency: 1,
  checkpointFiles: 1,
  progress: (event) => {
    if (event.message === 'mirrored') mirrored++;
    if (mode === 'push' && event.message === 'pushing' && mirrored >= Number(count)) process.kill(process.pid, 'SIGKILL');
    if (mode === 'patch' && / patch instructions updated/.test(event.message) && ++written >= Number(count)) process.kill(process.pid, 'SIGKILL');
  },
});
process.exit(0);
