// Runs promote in a plain Node process (where an unhandled rejection ends the process, as in the actions) with the
// staging read of one tag answered late, and prints the result as JSON.
// Args: <staging> <production> <tag> <ms> <subdir/filename>
import { openStore } from '@oci-channel/oci';
import { promote } from '@oci-channel/pipeline';
import { lateCalls } from './pipeline-helpers.ts';

const [staging, production, tag, ms, artifact] = process.argv.slice(2) as [string, string, string, string, string];
const [subdir, filename] = artifact.split('/') as [string, string];
const result = await promote({ staging: lateCalls(openStore(staging), 'fetchManifest', tag, Number(ms)), production, artifacts: [{ subdir, filename }] });
process.stdout.write(JSON.stringify(result));
process.exit(0);
