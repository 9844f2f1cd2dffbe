// Runs mirror into production and SIGKILLs itself at the first push after `afterMirrored` files were mirrored:
// a crash with one package half-pushed and the ones before it pushed (and maybe not yet logged).
import { mirror } from '@oci-channel/pipeline';

const [from, to, afterMirrored] = process.argv.slice(2);
let mirrored = 0;
await mirror({
  from: from!,
  to: to!,
  production: true,
  concurrency: 1,
  progress: (event) => {
    if (event.message === 'mirrored') mirrored++;
    if (event.message === 'pushing' && mirrored >= Number(afterMirrored)) process.kill(process.pid, 'SIGKILL');
  },
});
process.exit(0);
