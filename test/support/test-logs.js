// @ts-check
// Plain JavaScript: jest loads reporters with a bare require, without compiling them.
const { existsSync, readdirSync } = require('node:fs');
const { basename, join, relative } = require('node:path');

const ROOT = join(__dirname, '..', '..');

/** The folder (git-ignored) where the services a test file starts in this run write their logs. */
function testLogDir(testPath, runId = process.env.TEST_RUN_ID ?? 'local') {
  return join(ROOT, '.test-logs', runId, basename(testPath));
}

/**
 * Services under test log to files, not to the run's output; when a test file fails,
 * this reporter names the log files of that file's services after jest's own report.
 */
class FailedTestLogs {
  /** @param {import('@jest/test-result').TestResult} result */
  onTestResult(_test, result) {
    if (!result.numFailingTests && !result.testExecError) return;
    const dir = testLogDir(result.testFilePath);
    if (!existsSync(dir)) return;
    const files = readdirSync(dir)
      .sort()
      .map((file) => `    ${relative(process.cwd(), join(dir, file))}\n`);
    process.stderr.write(`\n  Logs of the services ${relative(ROOT, result.testFilePath)} ran:\n${files.join('')}\n`);
  }
}

exports.__esModule = true;
exports.default = FailedTestLogs;
exports.testLogDir = testLogDir;
