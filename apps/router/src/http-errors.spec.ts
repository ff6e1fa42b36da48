import { HttpException } from '@nestjs/common';
import { deploymentNotFound, Failure, FailureKind, success } from './outcome';
import { httpError, unknownDeployment, valueOrHttpError } from './http-errors';

const failure = (error: Exclude<FailureKind, 'cannot-evaluate' | 'input-rejected'>): Failure => ({ ok: false, error, message: `because ${error}` });
const answer = (exception: HttpException) => ({ status: exception.getStatus(), body: exception.getResponse() });

describe(httpError.name, () => {
  it.each([
    ['not-found', 404, 'Not Found'],
    ['model-failed', 502, 'Bad Gateway'],
    ['unavailable', 503, 'Service Unavailable'],
  ] as const)('answers %s with %i %s and the failure message', (error, status, phrase) => {
    expect(answer(httpError(failure(error)))).toEqual({ status, body: { statusCode: status, error: phrase, message: `because ${error}` } });
  });

  it.each([
    [400, 'Bad Request'],
    [413, 'Payload Too Large'],
    [422, 'Unprocessable Entity'],
  ] as const)("answers input-rejected with the model's status %i %s and the failure message", (status, phrase) => {
    const sut = httpError({ ok: false, error: 'input-rejected', status, message: 'because input-rejected' });
    expect(answer(sut)).toEqual({ status, body: { statusCode: status, error: phrase, message: 'because input-rejected' } });
  });

  it('answers busy with 429 and the message (which Nest sends as { statusCode, message })', () => {
    expect(answer(httpError(failure('busy')))).toEqual({ status: 429, body: 'because busy' });
  });

  it("answers cannot-evaluate with 422, the reasons and the samples' count", () => {
    const sut = httpError({ ok: false, error: 'cannot-evaluate', message: 'cannot evaluate this policy: no samples', reasons: ['no samples'], n: 0 });

    expect(answer(sut)).toEqual({
      status: 422,
      body: { statusCode: 422, error: 'Unprocessable Entity', message: 'cannot evaluate this policy: no samples', reasons: ['no samples'], n: 0 },
    });
  });

  it("answers an unknown deployment as the domain's not-found", () => {
    expect(answer(unknownDeployment('churn'))).toEqual(answer(httpError(deploymentNotFound('churn'))));
    expect(unknownDeployment('churn').message).toBe('deployment "churn" does not exist');
  });
});

describe(valueOrHttpError.name, () => {
  it("returns a success's value", () => {
    expect(valueOrHttpError(success({ n: 1 }))).toEqual({ n: 1 });
  });

  it("throws a failure's HTTP answer", () => {
    expect(() => valueOrHttpError(failure('model-failed'))).toThrow(expect.objectContaining({ status: 502, message: 'because model-failed' }));
  });
});
