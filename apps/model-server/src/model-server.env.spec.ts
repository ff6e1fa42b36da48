import { envHelp, loadEnv } from '@switchyard/runtime';
import { ModelServerEnv } from './model-server.env';

describe(ModelServerEnv.name, () => {
  it('defaults to port 9000, no added latency and no failures', () => {
    const sut = loadEnv(ModelServerEnv, {});
    expect(sut).toMatchObject({ PORT: 9000, MODEL_LATENCY_MS: 0, MODEL_FAIL_RATE: 0 });
    expect(sut.GRPC_PORT).toBeUndefined();
  });

  it('reads numbers from the environment', () => {
    const sut = loadEnv(ModelServerEnv, { PORT: '9100', GRPC_PORT: '9101', MODEL_LATENCY_MS: '25', MODEL_FAIL_RATE: '0.25' });
    expect(sut).toMatchObject({ PORT: 9100, GRPC_PORT: 9101, MODEL_LATENCY_MS: 25, MODEL_FAIL_RATE: 0.25 });
  });

  it('names every bad variable', () => {
    expect(() => loadEnv(ModelServerEnv, { MODEL_FAIL_RATE: '2', MODEL_LATENCY_MS: '-1' })).toThrow(
      /Invalid environment variables: MODEL_LATENCY_MS="-1" .*MODEL_FAIL_RATE="2" \(MODEL_FAIL_RATE must not be greater than 1\)/,
    );
  });

  it('documents its variables with their defaults in --help', () => {
    const help = envHelp(ModelServerEnv);
    expect(help).toMatch(/PORT +HTTP port of the inference API, health and metrics \(default: 9000\)/);
    expect(help).toMatch(/MODEL_LATENCY_MS .*\(default: 0\)/);
    expect(help).toMatch(/MODEL_FAIL_RATE .*\(default: 0\)/);
  });
});
