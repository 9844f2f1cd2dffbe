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
};
