/** Where the services' Redis is, as REDIS_URL says: one server, or the seed nodes of a Redis Cluster. */
export type RedisTarget =
  { cluster: false; url: string } | { cluster: true; nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean };

export const REDIS_URL_FORMS =
  'redis[s]://[user:pass@]host:port[/db] for one server, or redis[s]+cluster://[user:pass@]host:port[,host:port...] for a Redis Cluster';

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^@/]+)\/?$/;
// A host name or IPv4 address, or an IPv6 address in brackets, then the port.
const NODE = /^([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;

/**
 * The target a REDIS_URL names, or undefined when it is neither form. A single server's
 * URL goes to ioredis as is; a cluster's nodes are only seeds: the client learns the
 * others, and which slots each serves, from them.
 */
export function parseRedisUrl(url: string): RedisTarget | undefined {
  // WHATWG's parser too: ioredis reads the URL with Node's legacy url.parse, whose warning
  // about a malformed one (a port that is not a number) prints the URL, password included.
  if (/^rediss?:\/\/\S+$/.test(url)) return URL.canParse(url) ? { cluster: false, url } : undefined;
  const match = CLUSTER_URL.exec(url);
  if (!match) return undefined;
  const [, scheme, username, password, list] = match;
  const nodes = [];
  for (const node of list.split(',')) {
    const parts = NODE.exec(node);
    const port = Number(parts?.[2]);
    if (!parts || port < 1 || port > 65535) return undefined;
    nodes.push({ host: parts[1].replace(/^\[|\]$/g, ''), port });
  }
  return {
    cluster: true,
    nodes,
    ...(username && { username: decodeURIComponent(username) }),
    ...(password !== undefined && { password: decodeURIComponent(password) }),
    tls: scheme === 'rediss',
  };
}
