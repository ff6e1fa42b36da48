import { contractSchemas } from './openapi';

describe(contractSchemas.name, () => {
  it('documents feedback with its optional deployment, checked as a deployment name', () => {
    const feedback = contractSchemas().FeedbackInput as { properties: Record<string, { pattern?: string }>; required: string[] };
    expect(feedback.required).toEqual(['requestId']);
    expect(new RegExp(feedback.properties.deployment.pattern!).test('churn-v2')).toBe(true);
    expect(new RegExp(feedback.properties.deployment.pattern!).test('Not A Name')).toBe(false);
  });

  it("documents predict's inputs (required) and feedback's label, fields kept as sent", () => {
    const schemas = contractSchemas() as Record<string, { properties: Record<string, object>; required?: string[] }>;
    expect(schemas.PredictBody.required).toEqual(['inputs']);
    expect(schemas.PredictBody.properties.inputs).toMatchObject({ not: { type: 'null' } });
    expect(schemas.FeedbackInput.properties.label).toEqual({ description: 'any JSON value' });
    expect(Object.keys(schemas)).not.toContain('Object');
  });

  it('documents a strategy and an evaluation policy as one class per type', () => {
    const schemas = contractSchemas() as Record<string, { properties: Record<string, { oneOf?: { $ref: string }[] }> }>;
    expect(schemas.DeploymentSpecInput.properties.strategy.oneOf).toContainEqual({ $ref: '#/components/schemas/PlanStrategySpec' });
    expect(schemas.EvaluateBody.properties.policy.oneOf).toEqual(
      ['SingleStrategySpec', 'ShadowEvaluationPolicy', 'CanaryStrategySpec', 'FixedBanditPolicy', 'ContextualEvaluationPolicy'].map((name) => ({
        $ref: `#/components/schemas/${name}`,
      })),
    );
    expect(Object.keys(schemas.FixedBanditPolicy.properties)).toEqual(expect.arrayContaining(['type', 'weights']));
  });
});
