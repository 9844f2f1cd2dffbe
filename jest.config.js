// Tests run the TypeScript sources directly (swc strips types); ESM throughout, as in production.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } }],
  },
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: process.env.STRESS ? [] : ['/stress/'],
  testTimeout: 120000,
  maxWorkers: 2,
  // A worker ends with ~700 MB of RSS (a module graph per test file) and takes 0.5-0.6 s to tear its heap down after
  // its last file, with nothing left open; jest's 500 ms default then kills it and warns of a leak that is not there.
  workerGracefulExitTimeout: 5000,
};
