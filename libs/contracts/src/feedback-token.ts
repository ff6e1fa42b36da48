import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a feedback token vouches for: one prediction. */
export interface TokenedPrediction {
  requestId: string;
  deployment: string;
  variant: string;
  specVersion: number;
}

/**
 * 128 bits of HMAC-SHA256: guessing one takes 2^127 tries on average, and truncation to
 * half the output keeps the PRF's strength (NIST SP 800-107 rev. 1, §5.3.4).
 */
const MAC_BYTES = 16;
const TOKEN_FORMAT = /^([a-z0-9][a-z0-9_-]{0,62})\.([1-9][0-9]{0,15})\.([A-Za-z0-9_-]{22})$/;

function mac(secret: string, p: TokenedPrediction): Buffer {
  // JSON of an array: no field can run into the next, whatever characters ids hold.
  return createHmac('sha256', secret)
    .update(JSON.stringify([p.requestId, p.deployment, p.variant, p.specVersion]))
    .digest()
    .subarray(0, MAC_BYTES);
}

/**
 * The token a prediction's answer carries when its deployment requires one for feedback:
 * `<variant>.<specVersion>.<mac>`, the variant and version in the clear (they are in the
 * answer anyway) so that any router holding the secret verifies it with no lookup.
 */
export function feedbackToken(secret: string, prediction: TokenedPrediction): string {
  return `${prediction.variant}.${prediction.specVersion}.${mac(secret, prediction).toString('base64url')}`;
}

export type TokenCheck = { ok: true; variant: string; specVersion: number } | { ok: false; reason: string };

/** Whether `token` was issued for this request id of this deployment; the reason when not. */
export function verifyFeedbackToken(secret: string, token: unknown, requestId: string, deployment: string): TokenCheck {
  if (token === undefined) return { ok: false, reason: `deployment "${deployment}" requires the feedbackToken its prediction answer carried` };
  const parts = typeof token === 'string' ? TOKEN_FORMAT.exec(token) : null;
  if (!parts) return { ok: false, reason: 'feedbackToken is malformed (expected <variant>.<specVersion>.<mac> as the prediction answer gave it)' };
  const [, variant, version, sent] = parts;
  const specVersion = Number(version);
  const expected = mac(secret, { requestId, deployment, variant, specVersion });
  // Constant time: the comparison tells an attacker nothing about how much of a forged mac was right.
  if (!timingSafeEqual(Buffer.from(sent, 'base64url'), expected)) {
    return { ok: false, reason: `feedbackToken was not issued for request "${requestId}" of deployment "${deployment}"` };
  }
  return { ok: true, variant, specVersion };
}
