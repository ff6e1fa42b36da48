import { inferRequestProblems } from '@switchyard/contracts';
import { OipValidators } from './validators';

const tensor = (over: Record<string, unknown> = {}) => ({ name: 'x', shape: [2, 2], datatype: 'INT32', data: [1, 2, 3, 4], ...over });

describe('inferRequestProblems agrees with the vendored spec', () => {
  const validators = new OipValidators();
  const valid = [
    { inputs: [tensor()] },
    { id: 'req 1', model_name: 'churn', inputs: [tensor()], parameters: { unitKey: 'u', binary_data_output: false } },
    { id: 'a/b'.repeat(70), inputs: [tensor()], outputs: [{ name: 'y', parameters: { binary_data: false } }], extra: 1 },
    { inputs: [] },
  ];
  const invalid = [
    [],
    { inputs: 'x' },
    { id: 42, inputs: [tensor()] },
    { inputs: [tensor()], parameters: [] },
    { inputs: [{ name: 'x', shape: [1], data: [1] }] },
    { inputs: [tensor()], outputs: [{}] },
    { inputs: [tensor({ data: [1, 2, 3] })] },
  ];

  it.each(valid.map((body) => [JSON.stringify(body).slice(0, 60), body]))('accepts %s, as the schema does', (_name, body) => {
    expect(validators.problems('inference_request', body)).toEqual([]);
    expect(inferRequestProblems(body)).toEqual([]);
  });

  it.each(invalid.map((body) => [JSON.stringify(body).slice(0, 60), body]))('refuses %s, as the schema and prose do', (_name, body) => {
    expect(validators.problems('inference_request', body)).not.toEqual([]);
    expect(inferRequestProblems(body)).not.toEqual([]);
  });

  it('checks responses against their request and error bodies for their one field', () => {
    const response = { model_name: 'm', id: 'r', outputs: [tensor({ name: 'y' })] };
    expect(validators.responseProblems({ id: 'r', outputs: [{ name: 'y' }] }, response)).toEqual([]);
    expect(validators.responseProblems({ id: 's', outputs: [{ name: 'z' }] }, response)).toEqual([
      'response id "r" is not the request\'s "s"',
      'response output "y" was not requested',
    ]);
    expect(validators.problems('inference_error_response', { error: 'x' })).toEqual([]);
    expect(validators.problems('inference_error_response', { statusCode: 400, message: 'x', error: 'Bad Request' })).toEqual([
      'an error body holds exactly one field, "error"',
    ]);
    expect(validators.problems('metadata_model_response', { name: 'm', platform: 'p', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }] })).toEqual([]);
  });
});
