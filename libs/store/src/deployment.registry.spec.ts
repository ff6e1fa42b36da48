import type { SpecBody } from '@switchyard/strategies';
import { decodeSpecBody, encodeSpecBody } from './deployment.registry';

const body: SpecBody = {
  name: 'churn',
  updatedAt: '2026-12-07T00:00:00.000Z',
  variants: [{ name: 'v1', url: 'http://127.0.0.1:9000', model: 'm', protocol: 'v2', timeoutMs: 1000, retries: 0 }],
  strategy: { type: 'single', variant: 'v1' },
  reward: { type: 'match' },
};

describe(decodeSpecBody.name, () => {
  it('decodes what encodeSpecBody stored, unchanged', () => {
    expect(decodeSpecBody(encodeSpecBody(body))).toEqual({ ok: true, value: body });
  });

  it('refuses a body that is not a valid spec, saying why', () => {
    const { name: _name, ...nameless } = body;
    expect(decodeSpecBody(JSON.stringify(nameless))).toEqual({ ok: false, problems: ['name must be a string'] });
    expect(decodeSpecBody(JSON.stringify({ ...body, variants: [] }))).toMatchObject({ ok: false, problems: [expect.stringContaining('variants')] });
    expect(decodeSpecBody('{oops')).toMatchObject({ ok: false });
    expect(decodeSpecBody('[]')).toEqual({ ok: false, problems: ['must be a JSON object'] });
  });

  it('holds a body to the rules between its fields too, as a PUT is (issue #25: written straight to the spec log)', () => {
    expect(decodeSpecBody(encodeSpecBody({ ...body, strategy: { type: 'single', variant: 'nowhere' } }))).toEqual({
      ok: false,
      problems: ['strategy.variant: unknown variant "nowhere"'],
    });
  });
});
