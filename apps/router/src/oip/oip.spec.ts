import { oipErrorBody } from './oip-http';
import { requestIdOf, withScoredTensor } from './oip.service';

describe(requestIdOf.name, () => {
  it('takes an id that is a request id as it is', () => {
    expect(requestIdOf('req-1')).toBe('req-1');
  });

  it('maps any other string the spec allows to the same request id each time', () => {
    for (const id of ['req 1', 'a/b', 'x'.repeat(200), '']) {
      expect(requestIdOf(id)).toMatch(/^oip-[0-9a-f]{32}$/);
      expect(requestIdOf(id)).toBe(requestIdOf(id));
    }
    expect(requestIdOf('req 1')).not.toBe(requestIdOf('req 2'));
  });

  it('makes one up when there is none', () => {
    expect(requestIdOf(undefined)).not.toBe(requestIdOf(undefined));
  });
});

describe(withScoredTensor.name, () => {
  it("adds the reward's tensor to a selection that leaves it out, and says so", () => {
    expect(withScoredTensor([{ name: 'score' }], 'label.data.0')).toEqual({ outputs: [{ name: 'score' }, { name: 'label' }], added: 'label' });
  });

  it('leaves alone a selection that has it, no selection, and positional or absent paths', () => {
    expect(withScoredTensor([{ name: 'label' }], 'label.data.0')).toEqual({ outputs: [{ name: 'label' }] });
    expect(withScoredTensor(undefined, 'label.data.0')).toEqual({ outputs: undefined });
    expect(withScoredTensor([{ name: 'score' }], '0.data.0')).toEqual({ outputs: [{ name: 'score' }] });
    expect(withScoredTensor([{ name: 'score' }], undefined)).toEqual({ outputs: [{ name: 'score' }] });
  });
});

describe(oipErrorBody.name, () => {
  it.each([
    [
      'Nest',
      { statusCode: 400, error: 'Bad Request', message: 'invalid inference request: id must be a string' },
      'invalid inference request: id must be a string',
    ],
    ['Nest, several messages', { statusCode: 400, message: ['a', 'b'] }, 'a; b'],
    [
      'fastify',
      { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE', error: 'Payload Too Large', message: 'Request body is too large' },
      'Request body is too large',
    ],
  ])("turns %s's error body into OIP's", (_from, body, message) => {
    expect(JSON.parse(oipErrorBody(JSON.stringify(body)) as string)).toEqual({ error: message });
  });

  it('keeps an OIP error body, and wraps text that is not JSON', () => {
    expect(oipErrorBody('{"error":"x"}')).toBe('{"error":"x"}');
    expect(JSON.parse(oipErrorBody('oops') as string)).toEqual({ error: 'oops' });
  });
});
