import { parseAndValidate } from './validation';
import { checkpointProblem, StateCheckpoint } from './checkpoint';

const valid = {
  store: 'statistics',
  takenAt: '2026-12-07T08:00:00.000Z',
  covers: [{ topic: 'switchyard.joined', partition: 0, offset: '42' }],
  deployments: { churn: { stats: { ttlMs: 0, fields: { 'v1:count': '3', 'v1:sum': '1.5' } }, positions: { ttlMs: 1000, fields: { '0': '41' } } } },
};
const check = (value: unknown) => {
  const parsed = parseAndValidate(StateCheckpoint, JSON.stringify(value));
  return parsed.ok ? (checkpointProblem(parsed.value) ?? 'ok') : parsed.problems.join('; ');
};

describe(checkpointProblem.name, () => {
  it('takes a checkpoint of deployments, hash kinds and string fields', () => {
    expect(check(valid)).toBe('ok');
    expect(check({ ...valid, deployments: {} })).toBe('ok');
  });

  it('refuses what a restore could not write back, saying why', () => {
    expect(check({ ...valid, store: 'joins' })).toMatch(/store/);
    expect(check({ ...valid, covers: [{ topic: 'x', partition: -1, offset: '1' }] })).toMatch(/partition/);
    expect(check({ ...valid, covers: [{ topic: 'x', partition: 0, offset: '01' }] })).toMatch(/offset/);
    expect(check({ ...valid, deployments: { 'Not A Name': {} } })).toMatch(/not a deployment name/);
    expect(check({ ...valid, deployments: { churn: { 'stats:x': { ttlMs: 0, fields: {} } } } })).toMatch(/not a hash kind/);
    expect(check({ ...valid, deployments: { churn: { stats: { ttlMs: -1, fields: {} } } } })).toMatch(/ttlMs, fields/);
    expect(check({ ...valid, deployments: { churn: { stats: { ttlMs: 0, fields: { a: 1 } } } } })).toMatch(/must be strings/);
    expect(check({ ...valid, deployments: { churn: [] } })).toMatch(/must be an object/);
  });
});
