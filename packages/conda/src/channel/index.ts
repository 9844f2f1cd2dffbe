// Channel index formats: repodata.json (+zst), channeldata.json, run_exports.json, sharded repodata, index.html.
export * from './json.ts';
export * from './records.ts';
export * from './repodata.ts';
export * from './channeldata.ts';
export * from './shards.ts';
export * from './html.ts';
export * from './build.ts';
export * from './upstream-patch.ts';
export { newestVersion } from './version.ts';
export * from './patches.ts';
