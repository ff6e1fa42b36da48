import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { Logger } from 'nestjs-pino';
import { BaseEnv } from './env';
import { RuntimeModule } from './runtime.module';

/** Polls until `file` holds a line containing `text` (pino writes to files asynchronously). */
async function lineIn(file: string, text: string): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const line = existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .find((l) => l.includes(text))
      : undefined;
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no line with ${text} in ${file}`);
}

describe(RuntimeModule.name, () => {
  const dir = mkdtempSync(join(tmpdir(), 'runtime-module-'));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('appends the JSON log lines to LOG_FILE, creating its folder, when it is set', async () => {
    const file = join(dir, 'logs', 'svc.log');
    const env = Object.assign(new BaseEnv(), { LOG_LEVEL: 'info', LOG_FILE: file });
    const moduleRef = await Test.createTestingModule({ imports: [RuntimeModule.forRoot('svc', env)] }).compile();

    moduleRef.get(Logger).log('hello from the spec', 'Spec');

    expect(JSON.parse(await lineIn(file, 'hello from the spec'))).toMatchObject({ level: 30, service: 'svc', context: 'Spec', msg: 'hello from the spec' });
    await moduleRef.close();
  });
});
