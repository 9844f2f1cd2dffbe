// GitHub REST pieces of the pipeline: repository_dispatch requests and the GitHub Packages API.
export { createGithubClient, GithubApiError, githubApiUrl } from './client.ts';
export * from './packages.ts';
export * from './dispatch.ts';
export { clockTime, type RateLimitState } from './rate-limit.ts';
export * from './payload.ts';
export { VisibilityChecker, type VisibilityCheck } from './visibility.ts';
