import { UrlAllowlist } from './url-allowlist';

describe(UrlAllowlist.name, () => {
  it('allows the loopback range and nothing else by default', () => {
    const sut = new UrlAllowlist('');
    for (const url of [
      'http://127.0.0.1:9000',
      'http://127.8.9.10',
      'http://localhost:9000/x',
      'http://[::1]:9000',
      'http://2130706433:9000',
      'http://0x7f.1/',
    ]) {
      expect(sut.problem(url)).toBeUndefined();
    }
    for (const url of [
      'http://10.0.0.5:9000',
      'http://169.254.169.254/latest/meta-data',
      'http://models.internal',
      'http://[fd00::1]:80',
      'http://0.0.0.0:9000',
    ]) {
      expect(sut.problem(url)).toMatch(/is not allowed: variant URLs may name the loopback range/);
    }
  });

  it("adds the operator's hosts, host:port pairs, addresses and CIDRs", () => {
    const sut = new UrlAllowlist('models.internal,kserve.prod:8080,10.1.0.0/16,192.0.2.7,fd00::/8');
    expect(sut.problem('http://MODELS.internal/v2')).toBeUndefined();
    expect(sut.problem('http://kserve.prod:8080')).toBeUndefined();
    expect(sut.problem('http://kserve.prod:9090')).toMatch(/not allowed.*VARIANT_URL_ALLOW \(models\.internal/);
    expect(sut.problem('https://10.1.200.3')).toBeUndefined();
    expect(sut.problem('http://10.2.0.1')).toBeDefined();
    expect(sut.problem('http://192.0.2.7:1234')).toBeUndefined();
    expect(sut.problem('http://[fd12::5]')).toBeUndefined();
  });

  it('refuses a malformed CIDR at boot', () => {
    expect(() => new UrlAllowlist('10.0.0.0/40')).toThrow('VARIANT_URL_ALLOW: "10.0.0.0/40" is not a CIDR');
  });
});
