import { deploymentNotFound, success } from './outcome';

describe(deploymentNotFound.name, () => {
  it('names the deployment in a not-found failure', () => {
    expect(deploymentNotFound('churn')).toEqual({ ok: false, error: 'not-found', message: 'deployment "churn" does not exist' });
  });
});

describe(success.name, () => {
  it('wraps the value', () => {
    expect(success(42)).toEqual({ ok: true, value: 42 });
  });
});
