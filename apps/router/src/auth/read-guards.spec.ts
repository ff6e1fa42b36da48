import { ExecutionContext } from '@nestjs/common';
import { loadEnv } from '@switchyard/runtime';
import { RouterEnv } from '../router.env';
import { EvaluateGuard, FlaggerReadGuard, ReadGuard } from './guards';

const READ = 'read-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';

/** A request as a guard sees it: its headers and parsed body. */
function request(authorization?: string, body?: unknown): ExecutionContext {
  const req = { headers: authorization === undefined ? {} : { authorization }, body };
  return { switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
}

/** Whether `guard` lets `context` through (a refusal is a thrown 401). */
function lets(guard: { canActivate(context: ExecutionContext): boolean }, context: ExecutionContext): boolean {
  try {
    return guard.canActivate(context);
  } catch {
    return false;
  }
}

const env = (vars: Record<string, string>) => loadEnv(RouterEnv, vars);

describe(ReadGuard.name, () => {
  it('is open without READ_API_KEY, and then takes a read key or an admin key only', () => {
    expect(lets(new ReadGuard(env({ ADMIN_API_KEY: ADMIN })), request())).toBe(true);
    const sut = new ReadGuard(env({ ADMIN_API_KEY: ADMIN, READ_API_KEY: `${READ},second-read-key-0123456789` }));
    expect([undefined, 'Bearer nope', READ, `Bearer ${READ}x`].map((auth) => lets(sut, request(auth)))).toEqual([false, false, false, false]);
    expect([`Bearer ${READ}`, 'Bearer second-read-key-0123456789', `Bearer ${ADMIN}`].map((auth) => lets(sut, request(auth)))).toEqual([true, true, true]);
  });
});

describe(FlaggerReadGuard.name, () => {
  const sut = new FlaggerReadGuard(env({ ADMIN_API_KEY: ADMIN, READ_API_KEY: READ }));

  it("takes the key from the webhook's metadata.token, else from the Authorization header", () => {
    expect(lets(sut, request(undefined, { metadata: { token: READ } }))).toBe(true);
    expect(lets(sut, request(undefined, { metadata: { token: 'nope' } }))).toBe(false);
    expect(lets(sut, request(`Bearer ${READ}`, { metadata: {} }))).toBe(true);
    for (const body of [undefined, null, 'text', [READ], { metadata: { token: 42 } }, { metadata: null }])
      expect(lets(sut, request(undefined, body))).toBe(false);
  });
});

describe(EvaluateGuard.name, () => {
  it('needs a read or admin key always, refusing everyone on a router with neither unless ADMIN_AUTH=off', () => {
    const both = new EvaluateGuard(env({ ADMIN_API_KEY: ADMIN, READ_API_KEY: READ }));
    expect([undefined, `Bearer ${READ}`, `Bearer ${ADMIN}`].map((auth) => lets(both, request(auth)))).toEqual([false, true, true]);
    const adminOnly = new EvaluateGuard(env({ ADMIN_API_KEY: ADMIN }));
    expect([undefined, `Bearer ${ADMIN}`].map((auth) => lets(adminOnly, request(auth)))).toEqual([false, true]);
    expect(() => new EvaluateGuard(env({})).canActivate(request(`Bearer ${ADMIN}`))).toThrow(
      /^evaluate is closed: this router has neither READ_API_KEY nor ADMIN_API_KEY/,
    );
    expect(lets(new EvaluateGuard(env({ ADMIN_AUTH: 'off' })), request())).toBe(true);
    // ADMIN_AUTH=off opens the control plane, not the keys a router was given for evaluate.
    expect(lets(new EvaluateGuard(env({ ADMIN_AUTH: 'off', READ_API_KEY: READ })), request())).toBe(false);
  });
});
