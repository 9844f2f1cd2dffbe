// GitHub REST pieces of the pipeline: repository_dispatch requests and the GitHub Packages API.
export { githubApiUrl } from './client.ts';
export * from './packages.ts';
export * from './dispatch.ts';
export * from './payload.ts';
