import { feedbackProblem } from './events';

describe(feedbackProblem.name, () => {
  it('accepts feedback with a label, a reward or both', () => {
    expect(feedbackProblem({ label: 'yes' })).toBeUndefined();
    expect(feedbackProblem({ reward: 0 })).toBeUndefined();
    expect(feedbackProblem({ label: null, reward: 1 })).toBeUndefined();
  });

  it('refuses feedback with neither, saying so', () => {
    expect(feedbackProblem({})).toBe('feedback needs a label or a reward');
  });

  it('counts a null or false label as a label: only an absent one is missing', () => {
    expect(feedbackProblem({ label: null })).toBeUndefined();
    expect(feedbackProblem({ label: false })).toBeUndefined();
  });
});
