import { contractSchemas } from './openapi';

describe(contractSchemas.name, () => {
  it('documents feedback with its optional deployment, checked as a deployment name', () => {
    const feedback = contractSchemas().FeedbackInput as { properties: Record<string, { pattern?: string }>; required: string[] };
    expect(feedback.required).toEqual(['requestId']);
    expect(new RegExp(feedback.properties.deployment.pattern!).test('churn-v2')).toBe(true);
    expect(new RegExp(feedback.properties.deployment.pattern!).test('Not A Name')).toBe(false);
  });
});
