import { loadEnv } from '@switchyard/runtime';
import { RouterEnv } from './router.env';

describe('RouterEnv.producerLingerMs', () => {
  it('lingers 2 ms when answers wait for their events, 10 ms when they do not', () => {
    expect(loadEnv(RouterEnv, {}).producerLingerMs()).toBe(2);
    expect(loadEnv(RouterEnv, { PUBLISH_MODE: 'durable' }).producerLingerMs()).toBe(2);
    expect(loadEnv(RouterEnv, { PUBLISH_MODE: 'fast' }).producerLingerMs()).toBe(10);
  });

  it('takes PRODUCER_LINGER_MS over either default, 0 included', () => {
    expect(loadEnv(RouterEnv, { PUBLISH_MODE: 'fast', PRODUCER_LINGER_MS: '0' }).producerLingerMs()).toBe(0);
    expect(loadEnv(RouterEnv, { PRODUCER_LINGER_MS: '5' }).producerLingerMs()).toBe(5);
  });
});
