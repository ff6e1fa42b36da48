import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { TestResult } from '@jest/test-result';
import FailedTestLogs, { testLogDir } from './test-logs';

describe(testLogDir.name, () => {
  it('is one folder per run and test file under .test-logs', () => {
    expect(testLogDir('/repo/test/router.int-spec.ts', 'abc')).toBe(join(__dirname, '..', '..', '.test-logs', 'abc', 'router.int-spec.ts'));
  });
});

describe(FailedTestLogs.name, () => {
  const runId = `reporter-spec-${process.pid}`;
  const testFilePath = join(mkdtempSync(join(tmpdir(), 'test-logs-')), 'thing.int-spec.ts');
  const dir = testLogDir(testFilePath, runId);
  const result = (fields: Partial<TestResult>) => ({ testFilePath, numFailingTests: 0, ...fields }) as TestResult;
  let written: string;
  let previousRunId: string | undefined;

  beforeEach(() => {
    previousRunId = process.env.TEST_RUN_ID;
    process.env.TEST_RUN_ID = runId;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'router-4000.log'), '');
    writeFileSync(join(dir, 'in-process.log'), '');
    written = '';
    jest.spyOn(process.stderr, 'write').mockImplementation((text) => ((written += String(text)), true));
  });

  afterEach(() => {
    jest.restoreAllMocks();
    process.env.TEST_RUN_ID = previousRunId;
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  it('names the log files of a file with a failing test', () => {
    new FailedTestLogs().onTestResult(undefined, result({ numFailingTests: 1 }));

    expect(written).toContain(basename(testFilePath));
    expect(written.indexOf(join(runId, basename(testFilePath), 'in-process.log'))).toBeGreaterThan(-1);
    expect(written.indexOf(join(runId, basename(testFilePath), 'router-4000.log'))).toBeGreaterThan(written.indexOf('in-process.log'));
  });

  it('names them when the file could not run', () => {
    new FailedTestLogs().onTestResult(undefined, result({ testExecError: { message: 'boom', stack: '' } }));

    expect(written).toContain('router-4000.log');
  });

  it('prints nothing for a file that passed', () => {
    new FailedTestLogs().onTestResult(undefined, result({}));

    expect(written).toBe('');
  });

  it('prints nothing when the failing file started no service', () => {
    rmSync(dir, { recursive: true });

    new FailedTestLogs().onTestResult(undefined, result({ numFailingTests: 2 }));

    expect(written).toBe('');
  });
});
