import { ModelError } from './model.client';

describe(ModelError.name, () => {
  it('keeps a ModelError as it is', () => {
    const failure = new ModelError('rejected', 'model rejected the request (400)', 400);

    expect(ModelError.of(failure)).toBe(failure);
  });

  it('takes any other error as unavailable, with its message', () => {
    const sut = ModelError.of(new TypeError('socket hang up'));

    expect(sut).toMatchObject({ kind: 'unavailable', message: 'socket hang up', retryable: true });
  });

  it('retries timeouts, refused connections and 5xx, not rejections or unreadable answers', () => {
    const retryable = (['timeout', 'unavailable', 'server-error', 'rejected', 'bad-response'] as const).filter((kind) => new ModelError(kind, '').retryable);

    expect(retryable).toEqual(['timeout', 'unavailable', 'server-error']);
  });
});
