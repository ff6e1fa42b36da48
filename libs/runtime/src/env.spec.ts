import { IsInt, Min } from 'class-validator';
import { IsOptional, MinLength } from 'class-validator';
import { BaseEnv, Env, envHelp, envVariables, loadEnv, Secret } from './env';

class SampleEnv extends BaseEnv {
  @Env('how many widgets')
  @IsInt()
  @Min(1)
  WIDGETS: number = 3;

  @Env('the password')
  @Secret()
  @IsOptional()
  @MinLength(16, { message: 'PASSWORD must be at least 16 characters, got $value' })
  PASSWORD?: string;
}

describe(loadEnv.name, () => {
  it('uses the defaults when nothing is set', () => {
    const sut = loadEnv(SampleEnv, {});
    expect(sut).toMatchObject({ KAFKA_BROKERS: '127.0.0.1:9092', PORT: 3000, WIDGETS: 3, TOPIC_PREFIX: 'switchyard.' });
  });

  it('converts numbers from their string form', () => {
    const sut = loadEnv(SampleEnv, { PORT: '3100', WIDGETS: '7', TOPIC_PARTITIONS: '12' });
    expect(sut).toMatchObject({ PORT: 3100, WIDGETS: 7, TOPIC_PARTITIONS: 12 });
  });

  it('names every bad variable and its value', () => {
    const sut = () => loadEnv(SampleEnv, { PORT: 'eighty', WIDGETS: '0', REDIS_URL: 'localhost' });
    expect(sut).toThrow(/^Invalid environment variables: /);
    expect(sut).toThrow(/REDIS_URL="localhost" \(must be redis\[s\]:\/\/.* or redis\[s\]\+cluster:\/\/\[user:pass@\]host:port\[,host:port\.\.\.\]/);
    expect(sut).toThrow(/PORT="eighty" \(.*must be an integer number\)/);
    expect(sut).toThrow(/WIDGETS="0" \(WIDGETS must not be less than 1\)/);
  });

  it('never prints the value of a secret, not even through a message quoting it', () => {
    const sut = () => loadEnv(SampleEnv, { PASSWORD: 'hunter2' });
    expect(sut).toThrow(/PASSWORD=<secret, not shown> \(minLength\)/);
    expect(sut).not.toThrow(/hunter2/);
  });

  it('never prints the password of a URL it refuses (REDIS_URL may carry credentials)', () => {
    for (const url of ['http://svc:s3cret-pw@cache:6379', 'redis://svc:s3cret-pw@cache:notaport', 'redis+cluster://:s3cret@pw@h']) {
      const sut = () => loadEnv(SampleEnv, { REDIS_URL: url });
      expect(sut).toThrow(/REDIS_URL=".*:\/\/(svc)?:<not shown>@/);
      expect(sut).not.toThrow(/s3cret/);
    }
  });

  it('ignores variables it does not document', () => {
    expect(loadEnv(SampleEnv, { UNRELATED: 'x' })).not.toHaveProperty('UNRELATED');
  });
});

describe(envHelp.name, () => {
  it('lists each documented variable with its default', () => {
    const help = envHelp(SampleEnv);
    expect(help).toMatch(/WIDGETS\s+how many widgets \(default: 3\)/);
    expect(help).toMatch(/KAFKA_BROKERS\s+Kafka bootstrap brokers, comma-separated \(default: 127.0.0.1:9092\)/);
  });

  it('says only whether a secret is set', () => {
    expect(envHelp(SampleEnv, { PASSWORD: 'correct-horse-battery' })).toMatch(/PASSWORD\s+the password \(secret: set\)/);
    expect(envHelp(SampleEnv, { PASSWORD: 'correct-horse-battery' })).not.toMatch(/correct-horse/);
    expect(envHelp(SampleEnv, {})).toMatch(/\(secret: not set\)/);
  });
});

describe(envVariables.name, () => {
  it('gives each variable its type, default and whether it is a secret', () => {
    const sut = new Map(envVariables(SampleEnv).map((variable) => [variable.name, variable]));
    expect(sut.get('WIDGETS')).toEqual({ name: 'WIDGETS', description: 'how many widgets', type: 'integer', defaultValue: '3', secret: false });
    expect(sut.get('PASSWORD')).toMatchObject({ type: 'string', defaultValue: undefined, secret: true });
    expect(sut.get('LOG_LEVEL')).toMatchObject({ type: 'one of fatal, error, warn, info, debug, trace', defaultValue: 'info' });
  });
});
