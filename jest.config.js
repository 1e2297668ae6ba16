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
  // A worker keeps every suite's module graph (ESM in vm contexts): after ~15 integration suites
  // it holds ~700 MB and, on a loaded machine, takes longer than jest's 500 ms to exit at the end
  // ("a worker process has failed to exit gracefully", with no handle left open: its exit
  // handlers ran 2 ms after jest's end message). A worker over 400 MB of heap after a suite is
  // replaced by a fresh one (a second's start, a few times a run), so the last ones exit at once.
  workerIdleMemoryLimit: '400MB',
};
