import { join } from 'node:path';
import { serviceLogFile } from './logs';
import { testLogDir } from './test-logs';

describe(serviceLogFile.name, () => {
  it("is a file in the running test file's log folder, named after the service", () => {
    expect(serviceLogFile('router-4000')).toBe(join(testLogDir(__filename), 'router-4000.log'));
  });
});
