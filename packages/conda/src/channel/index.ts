// Channel index formats: repodata.json (+zst), channeldata.json, run_exports.json, sharded repodata, index.html.
export { canonicalize, nestedStableJson, pythonString, serializeCanonical, stableJson, type Canonical, type JsonValue } from './json.ts';
export { estimateJsonMapBytes, JsonBytes, writeJsonMapAtDepth1 } from './json-bytes.ts';
export * from './records.ts';
export * from './repodata.ts';
export * from './channeldata.ts';
export * from './shards.ts';
export * from './html.ts';
export * from './build.ts';
export * from './upstream-patch.ts';
export { newestVersion } from './version.ts';
export * from './patches.ts';
