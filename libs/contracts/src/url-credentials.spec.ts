import { maskUrlCredentials, withMaskedUrls } from './url-credentials';

describe(maskUrlCredentials.name, () => {
  it.each([
    ['https://user:s3cret@models.example:9000/v1', 'https://user:***@models.example:9000/v1'],
    ['http://token@10.0.0.5', 'http://***@10.0.0.5/'],
    ['http://user:p%40ss@host/', 'http://user:***@host/'],
    ['http://127.0.0.1:9000', 'http://127.0.0.1:9000'],
    ['not a url', 'not a url'],
  ])('shows %s as %s', (url, shown) => {
    expect(maskUrlCredentials(url)).toBe(shown);
  });

  it('masks every variant of a spec and leaves the rest of it as it is', () => {
    const spec = {
      name: 'churn',
      variants: [
        { name: 'v1', url: 'https://a:b@h/' },
        { name: 'v2', url: 'http://h:1' },
      ],
    };
    expect(withMaskedUrls(spec)).toEqual({
      name: 'churn',
      variants: [
        { name: 'v1', url: 'https://a:***@h/' },
        { name: 'v2', url: 'http://h:1' },
      ],
    });
    expect(spec.variants[0].url).toBe('https://a:b@h/');
  });
});
