// Runs promote and SIGKILLs itself when a progress message matches argv[4]: a crash at that exact point.
import { promote } from '@oci-channel/pipeline';

const [staging, production, killAt, ...artifacts] = process.argv.slice(2);
const refs = artifacts.map((a) => {
  const [subdir, filename] = a.split('/') as [string, string];
  return { subdir, filename };
});
await promote({
  staging: staging!,
  production: production!,
  artifacts: refs,
  concurrency: 1,
  progress: (event) => {
    if (event.message.startsWith(killAt!)) process.kill(process.pid, 'SIGKILL');
  },
});
process.exit(0);
