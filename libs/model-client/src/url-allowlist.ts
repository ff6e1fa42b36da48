import { BlockList, isIP } from 'node:net';

/** VARIANT_URL_ALLOW as every service that calls variants (router, shadow worker) documents and checks it. */
export const VARIANT_URL_ALLOW_ENV = {
  help: 'Hosts variant URLs may name besides the loopback range (127.0.0.0/8, ::1, localhost): comma-separated host names, host:port pairs and IP CIDRs',
  pattern: /^[^\s]*$/,
  message: 'VARIANT_URL_ALLOW must be comma-separated hosts, host:port pairs or CIDRs, no spaces',
};

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * Where variant URLs may point: the loopback range always, plus the operator's
 * VARIANT_URL_ALLOW (host names, host:port pairs, IP addresses and CIDRs). Whoever may PUT
 * a spec otherwise makes the router call any address it can reach (SSRF).
 */
export class UrlAllowlist {
  private readonly networks = new BlockList();
  private readonly hosts = new Set<string>(['localhost']);

  constructor(private readonly listed: string) {
    this.networks.addSubnet('127.0.0.0', 8, 'ipv4');
    this.networks.addAddress('::1', 'ipv6');
    for (const entry of listed
      .split(',')
      .map((item) => item.trim().toLowerCase())
      .filter(Boolean)) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address);
      if (prefix !== undefined) {
        const bits = Number(prefix);
        if (!family || !Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) throw new Error(`VARIANT_URL_ALLOW: "${entry}" is not a CIDR`);
        this.networks.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
      } else if (family) this.networks.addAddress(address, family === 4 ? 'ipv4' : 'ipv6');
      else this.hosts.add(entry);
    }
  }

  /** Why `url` may not be called, or `undefined` when it may. */
  problem(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'is not a URL';
    }
    // The WHATWG parser has already turned 2130706433 or 0x7f.1 into 127.0.0.1.
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    const port = parsed.port || DEFAULT_PORTS[parsed.protocol] || '';
    const family = isIP(host);
    const allowed = family ? this.networks.check(host, family === 4 ? 'ipv4' : 'ipv6') : this.hosts.has(host) || this.hosts.has(`${host}:${port}`);
    if (allowed) return undefined;
    return `host "${parsed.host}" is not allowed: variant URLs may name the loopback range${this.listed ? ` and VARIANT_URL_ALLOW (${this.listed})` : ''}; an operator adds hosts to VARIANT_URL_ALLOW`;
  }
}
