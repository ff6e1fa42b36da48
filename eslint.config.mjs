// @ts-check
// Lint and library boundaries, run by `npm test` (`npm run lint`). The boundary rules
// encode the design's import table: see README, "Code layout rules".
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const LIBS = ['contracts', 'strategies', 'messaging', 'store', 'spec-log', 'model-client', 'runtime', 'demo-models'];

/**
 * What each library may import of ours (README, "Code layout rules"). The first five are
 * the design's import table; runtime (bootstrap, env, health, metrics, PeriodicTask) and
 * demo-models (the built-in models) are libraries too, and their rows are what the code
 * does today (demo-models takes its seeded generator from strategies, both pure). spec-log (the registry's record on Kafka,
 * folded into the store) joins messaging and store, so it is a library of its own.
 */
const ALLOWED = {
  contracts: [],
  strategies: ['contracts'],
  messaging: ['contracts', 'runtime'],
  store: ['contracts', 'strategies', 'runtime'],
  'spec-log': ['contracts', 'strategies', 'messaging', 'store', 'runtime'],
  'model-client': ['contracts'],
  runtime: ['contracts'],
  'demo-models': ['strategies'],
};

/** libs/strategies is pure: no framework, Kafka, Redis, HTTP, network or file system. */
const IMPURE = ['@nestjs/*', 'kafkajs', 'kafkajs/*', 'ioredis', 'ioredis/*', 'undici', 'undici/*', 'fastify', 'fastify/*'];
const IMPURE_NODE = ['http', 'https', 'http2', 'net', 'tls', 'dgram', 'fs', 'fs/promises', 'child_process'].flatMap((m) => [m, `node:${m}`]);

const forbiddenLib = (name, importer) => ({
  group: [`@switchyard/${name}`, `@switchyard/${name}/**`],
  message: `libs/${importer} may not import @switchyard/${name} (README, "Code layout rules": libs/${importer} may import ${ALLOWED[importer].join(', ') || 'nothing of ours'}).`,
});

const libBoundaries = LIBS.map((lib) => ({
  name: `boundaries/libs/${lib}`,
  files: [`libs/${lib}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths:
          lib === 'strategies'
            ? IMPURE_NODE.map((name) => ({ name, message: 'libs/strategies is pure: no network, HTTP or file system (README, "Code layout rules").' }))
            : [],
        patterns: [
          ...LIBS.filter((other) => other !== lib && !ALLOWED[lib].includes(other)).map((other) => forbiddenLib(other, lib)),
          {
            group: ['../*', '**/apps/**', '**/libs/**'],
            message: 'a library reaches other code only through @switchyard/<library>, never by a relative path out of its src (README, "Code layout rules").',
          },
          ...(lib === 'strategies'
            ? [{ group: IMPURE, message: 'libs/strategies is pure: no NestJS, Kafka, Redis or HTTP code (README, "Code layout rules").' }]
            : []),
        ],
      },
    ],
  },
}));

const appBoundaries = {
  name: 'boundaries/apps',
  files: ['apps/**/*.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: ['../../*', '**/apps/**', '**/libs/**'],
            message: 'apps import libraries (@switchyard/<library>), never other apps or a library by path (README, "Code layout rules").',
          },
        ],
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    name: 'switchyard/base',
    rules: {
      // `_`-prefixed parameters and variables are deliberately unused (signatures, destructuring).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    name: 'switchyard/harness',
    files: ['bench/**/*.ts', 'demo/**/*.ts', 'test/**/*.ts', 'faults/**/*.ts'],
    // Harnesses read JSON answers of many shapes and assert on them field by field.
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    name: 'switchyard/no-cycle',
    files: ['**/*.ts'],
    plugins: importX.flatConfigs.typescript.plugins,
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    // An import cycle makes module order matter and hides which part depends on which.
    rules: { 'import-x/no-cycle': 'error' },
  },
  ...libBoundaries,
  appBoundaries,
  // bench/, demo/, faults/, test/ and tools/ may import anything: no boundary rule applies to them.
);
