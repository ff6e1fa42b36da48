import { loadEnv } from '@switchyard/runtime';
import { RouterEnv } from './router.env';

describe('RouterEnv.producerBatching', () => {
  it('lingers 2 ms when answers wait for their events, up to 20 ms for 64 events when they do not', () => {
    expect(loadEnv(RouterEnv, {}).producerBatching()).toEqual({ lingerMs: 2 });
    expect(loadEnv(RouterEnv, { PUBLISH_MODE: 'durable' }).producerBatching()).toEqual({ lingerMs: 2 });
    expect(loadEnv(RouterEnv, { PUBLISH_MODE: 'fast' }).producerBatching()).toEqual({ lingerMs: 20, targetBatch: 64 });
  });

  it('takes PRODUCER_LINGER_MS over either default, 0 included', () => {
    expect(loadEnv(RouterEnv, { PUBLISH_MODE: 'fast', PRODUCER_LINGER_MS: '0' }).producerBatching().lingerMs).toBe(0);
    expect(loadEnv(RouterEnv, { PRODUCER_LINGER_MS: '5' }).producerBatching().lingerMs).toBe(5);
  });
});
