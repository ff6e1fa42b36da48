import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BaseEnv, Env } from '@switchyard/runtime';
import { IsInt } from 'class-validator';
import { CONFIGURATION_PAGE, configurationPage, REGENERATE } from './config-docs';

class WidgetEnv extends BaseEnv {
  @Env('HTTP port of the widget service')
  override PORT: number = 4242;

  @Env('how many widgets | at once')
  @IsInt()
  WIDGETS: number = 3;
}

describe(configurationPage.name, () => {
  const sut = configurationPage([{ name: 'widgets', summary: 'makes widgets', envClass: WidgetEnv }]);

  it('lists the shared variables once, then what each service adds or overrides', () => {
    const [shared, own] = sut.split('## widgets');
    expect(shared).toContain('| `KAFKA_BROKERS` | string | `127.0.0.1:9092` |');
    expect(own).toContain('| `PORT` | integer | `4242` | HTTP port of the widget service |');
    expect(own).toContain('| `WIDGETS` | integer | `3` | how many widgets \\| at once |');
    expect(own).not.toContain('KAFKA_BROKERS');
  });

  it('never shows a secret default', () => {
    expect(sut).toContain('| `KAFKA_SASL_PASSWORD` | string | unset (secret: never printed) |');
  });

  it(`is what ${CONFIGURATION_PAGE} holds (regenerate it with ${REGENERATE})`, () => {
    const committed = readFileSync(join(__dirname, '..', CONFIGURATION_PAGE), 'utf8');
    // A message rather than a bare diff: the fix is one command.
    if (committed !== configurationPage()) throw new Error(`${CONFIGURATION_PAGE} is out of date with the env classes: run ${REGENERATE} and commit it`);
  });
});
