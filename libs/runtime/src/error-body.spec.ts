import { capErrorBody } from './error-body';

describe(capErrorBody.name, () => {
  it('returns a body within the bound as it is', () => {
    const body = JSON.stringify({ statusCode: 400, message: 'short' });
    expect(capErrorBody(body, 100)).toBe(body);
  });

  it('cuts a long message, saying how much was left out, and keeps the shape', () => {
    const sut = JSON.parse(capErrorBody(JSON.stringify({ statusCode: 400, error: 'Bad Request', message: 'x'.repeat(10_000) }), 200));
    expect(sut).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/^x+… \(\d+ more characters\)$/) });
    expect(sut.message.length).toBe(100);
  });

  it("cuts OIP's error and a long problems list to its first entries, counting the others", () => {
    const oip = JSON.parse(capErrorBody(JSON.stringify({ error: 'e'.repeat(5000) }), 1000));
    expect(oip.error.length).toBe(500);
    const problems = Array.from({ length: 1000 }, (_, i) => `[${i}].label must be at most 16384 bytes of JSON`);
    const sut = JSON.parse(capErrorBody(JSON.stringify({ statusCode: 400, message: problems.join('; '), problems }), 4096));
    expect([sut.problems.length, sut.problemsLeftOut, sut.problems[0]]).toEqual([20, 980, '[0].label must be at most 16384 bytes of JSON']);
    expect(JSON.stringify(sut).length).toBeLessThanOrEqual(4096);
  });

  it('cuts a body that is not JSON', () => {
    expect(capErrorBody('z'.repeat(300), 100)).toMatch(/^z+… \(\d+ more characters\)$/);
    expect(capErrorBody('z'.repeat(300), 100).length).toBe(100);
  });
});
