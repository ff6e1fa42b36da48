import { statsArm } from './reward-stats';

describe(statsArm.name, () => {
  it('counts served rewards under the variant and shadow rewards apart', () => {
    expect(statsArm('v1', 'served')).toBe('v1');
    expect(statsArm('v1', 'shadow')).toBe('v1:shadow');
  });
});
