// upload-to-staging: pushes built packages to the staging channel, then asks the channel repository to
// validate and promote them (repository_dispatch), split to GitHub's payload limits.
import * as core from '@actions/core';
import { upload } from '@oci-channel/pipeline';
import { dispatchInputs, requestPromotion } from './common/dispatch.ts';
import { channelInput } from './common/inputs.ts';
import { CHANNEL_SECRETS, INPUT } from './common/names.ts';
import { readUploadFiles } from './common/options.ts';
import { reportUpload } from './common/reports.ts';
import { progressLogger, runAction } from './common/run.ts';

await runAction({
  name: 'upload-to-staging',
  secrets: [...CHANNEL_SECRETS, { input: INPUT.dispatchToken }],
  async run() {
    const { location: staging, storeOptions } = channelInput(INPUT.staging);
    const dispatch = dispatchInputs();
    const files = await readUploadFiles();
    // The staged manifests name the uploading repository as their source (promote replaces it with the channel's).
    const repository = process.env.GITHUB_REPOSITORY;
    const sourceUrl = repository ? `${process.env.GITHUB_SERVER_URL ?? 'https://github.com'}/${repository}` : undefined;
    const result = await core.group(`Upload ${files.length} package(s) to staging`, () => upload({ to: staging, files, storeOptions, sourceUrl, progress: progressLogger }));
    reportUpload(result, files.length);
    const dispatches = dispatch && result.artifacts.length > 0 ? await requestPromotion(dispatch, result.artifacts) : 0;
    core.setOutput('dispatches', String(dispatches));
  },
});
