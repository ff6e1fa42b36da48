import type { TestResult } from '@jest/test-result';

export function testLogDir(testPath: string, runId?: string): string;

export default class FailedTestLogs {
  onTestResult(test: unknown, result: TestResult): void;
}
