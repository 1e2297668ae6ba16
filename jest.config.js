/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // Transpile only: with tsconfig.json's isolatedModules: true, ts-jest 29.4 compiles each file
  // on its own (no language service, no type check; about 20 ms a file, 8-10 s of CPU for all of
  // src/ and test/ on an empty cache). The types of src/ and test/ are checked once, by
  // `npm run typecheck` in pretest; a per-file check here would repeat that work.
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  testTimeout: 30000,
  // Two workers on a 2-core machine: most integration suites wait on sockets and child processes
  // (about half the serial run's wall time was idle CPU), so two at a time fit.
  maxWorkers: 2,
};
