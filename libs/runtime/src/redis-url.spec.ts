import { parseRedisUrl } from './redis-url';

describe(parseRedisUrl.name, () => {
  it('passes a single server URL through as is', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ cluster: false, url: 'redis://127.0.0.1:6379' });
    expect(parseRedisUrl('rediss://user:pw@cache:6380/2')).toEqual({ cluster: false, url: 'rediss://user:pw@cache:6380/2' });
  });

  it('lists the seed nodes of a cluster URL', () => {
    expect(parseRedisUrl('redis+cluster://127.0.0.1:7001,127.0.0.1:7002,[::1]:7003')).toEqual({
      cluster: true,
      nodes: [
        { host: '127.0.0.1', port: 7001 },
        { host: '127.0.0.1', port: 7002 },
        { host: '::1', port: 7003 },
      ],
      tls: false,
    });
  });

  it('takes credentials and TLS from a cluster URL, percent-decoded', () => {
    expect(parseRedisUrl('rediss+cluster://svc:p%40ss@cache-1.internal:6379')).toEqual({
      cluster: true,
      nodes: [{ host: 'cache-1.internal', port: 6379 }],
      username: 'svc',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis+cluster://:secret@h:1')).toMatchObject({ password: 'secret' });
    expect(parseRedisUrl('redis+cluster://:secret@h:1')).not.toHaveProperty('username');
  });

  it.each([
    ['no scheme', 'localhost:6379'],
    ['a node without a port', 'redis+cluster://127.0.0.1'],
    ['a port out of range', 'redis+cluster://127.0.0.1:70000'],
    ['an empty node', 'redis+cluster://127.0.0.1:7001,,127.0.0.1:7002'],
    ['a database index (a cluster has only 0)', 'redis+cluster://127.0.0.1:7001/1'],
    ['an unknown scheme', 'redis+sentinel://127.0.0.1:26379'],
    ['a server URL whose port is not a number', 'redis://user:pw@127.0.0.1:notaport'],
  ])('rejects %s', (_why, url) => {
    expect(parseRedisUrl(url)).toBeUndefined();
  });
});
