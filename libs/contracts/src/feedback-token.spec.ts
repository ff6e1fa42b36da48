import { feedbackToken, verifyFeedbackToken } from './feedback-token';

const SECRET = 'token-secret-0123456789';
const prediction = { requestId: 'req-1', deployment: 'churn', variant: 'v2', specVersion: 7 };

describe('feedback tokens', () => {
  const token = feedbackToken(SECRET, prediction);

  it('carries the variant and spec version and verifies for its own prediction', () => {
    expect(token).toMatch(/^v2\.7\.[A-Za-z0-9_-]{22}$/);
    expect(verifyFeedbackToken(SECRET, token, 'req-1', 'churn')).toEqual({ ok: true, variant: 'v2', specVersion: 7 });
  });

  it('is refused for another request id, another deployment or under another secret', () => {
    expect(verifyFeedbackToken(SECRET, token, 'req-2', 'churn')).toMatchObject({ ok: false, reason: expect.stringContaining('req-2') });
    expect(verifyFeedbackToken(SECRET, token, 'req-1', 'fraud')).toMatchObject({ ok: false, reason: expect.stringContaining('fraud') });
    expect(verifyFeedbackToken('another-secret-0123456789', token, 'req-1', 'churn').ok).toBe(false);
  });

  it('is refused when any part was changed', () => {
    const [variant, version, mac] = token.split('.');
    const flipped = (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1);
    for (const tampered of [`v1.${version}.${mac}`, `${variant}.8.${mac}`, `${variant}.${version}.${flipped}`]) {
      expect(verifyFeedbackToken(SECRET, tampered, 'req-1', 'churn')).toMatchObject({ ok: false, reason: expect.stringContaining('not issued') });
    }
  });

  it('says why a missing or malformed token is refused', () => {
    expect(verifyFeedbackToken(SECRET, undefined, 'req-1', 'churn')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('requires the feedbackToken'),
    });
    for (const bad of ['', 'v2.7', `${token}x`, 42, 'V2.7.AAAAAAAAAAAAAAAAAAAAAA', 'v2.0.AAAAAAAAAAAAAAAAAAAAAA']) {
      expect(verifyFeedbackToken(SECRET, bad, 'req-1', 'churn')).toMatchObject({ ok: false, reason: expect.stringContaining('malformed') });
    }
  });

  it('does not depend on field boundaries: ids that concatenate alike get different tokens', () => {
    const a = feedbackToken(SECRET, { ...prediction, requestId: 'ab', deployment: 'c' });
    const b = feedbackToken(SECRET, { ...prediction, requestId: 'a', deployment: 'bc' });
    expect(a).not.toBe(b);
  });
});
