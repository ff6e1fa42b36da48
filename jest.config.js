// Two projects: `unit` (pure, no I/O, beside the code) and `integration` (real Kafka,
// Redis and processes, under test/). globalSetup brings infrastructure up once.
const { pathsToModuleNameMapper } = require('ts-jest');
const { compilerOptions } = require('./tsconfig.json');

const shared = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  rootDir: __dirname,
  moduleNameMapper: pathsToModuleNameMapper(compilerOptions.paths, { prefix: '<rootDir>/' }),
  transform: { '^.+\\.ts$': 'ts-jest' },
};

module.exports = {
  // Integration tests wait on real brokers and processes; they poll, so this is only a ceiling.
  testTimeout: 120000,
  // Services under test log to files (test/support/test-logs.js): a failed file's are named after its report.
  reporters: ['default', '<rootDir>/test/support/test-logs.js'],
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,bench,faults,tools}/**/*.spec.ts', '<rootDir>/test/support/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.int-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
