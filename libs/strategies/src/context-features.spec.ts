import type { ContextSpec } from '@switchyard/contracts';
import { extractContext } from './context-features';

const spec: ContextSpec = {
  features: [
    { name: 'amount', type: 'numeric', input: 'features', index: 2, min: 0, max: 1000, scale: 0.001 },
    { name: 'channel', type: 'categorical', context: 'channel', levels: ['store', 'online'] },
    { name: 'age', type: 'numeric', path: 'customer.age', default: 40, scale: 0.01 },
  ],
};
const tensor = (data: unknown[]) => [{ name: 'features', shape: [1, data.length], datatype: 'FP32', data }];

describe(extractContext.name, () => {
  it('encodes [1, numeric, one-hot…, numeric] in the declared order', () => {
    expect(extractContext(spec, { inputs: tensor([9, 9, 250, 9]), context: { channel: 'online' } })).toEqual({ ok: true, x: [1, 0.25, 0, 1, 0.4] });
  });

  it('reads json inputs by path, nested tensors in row-major order, and clips before scaling', () => {
    const json = { features: [{ name: 'amount', type: 'numeric', path: '0.amount', max: 100 }, spec.features[2]] } as ContextSpec;
    expect(extractContext(json, { inputs: [{ amount: '250', customer: {} }, {}] })).toEqual({ ok: true, x: [1, 100, 0.4] });
    expect(
      extractContext(
        { features: [spec.features[0]] },
        {
          inputs: tensor([
            [1, 2],
            [5000, 4],
          ]),
        },
      ),
    ).toEqual({ ok: true, x: [1, 1] });
  });

  it('encodes an unknown or missing level as all zeros, and a missing number as its default', () => {
    expect(extractContext(spec, { inputs: tensor([0, 0, -5]), context: { channel: 'phone' } })).toEqual({ ok: true, x: [1, 0, 0, 0, 0.4] });
    expect(extractContext(spec, { inputs: tensor([0, 0, 1]) })).toEqual({ ok: true, x: [1, 0.001, 0, 0, 0.4] });
  });

  it.each([
    ['no such tensor', { inputs: [{ name: 'other', data: [1, 2, 3] }] }],
    ['index past the data', { inputs: tensor([1]) }],
    ['a non-numeric string', { inputs: tensor([0, 0, 'lots']) }],
    ['inputs that are not tensors', { inputs: 'text' }],
  ])('refuses a missing number without a default (%s) with the feature named', (_, source) => {
    expect(extractContext(spec, source)).toEqual({ ok: false, reason: 'feature "amount" is missing or not a number, and has no default' });
  });

  it('never reads inherited properties, whatever the path', () => {
    const proto = { features: [{ name: 'p', type: 'numeric', path: 'constructor.length' }] } as ContextSpec;
    expect(extractContext(proto, { inputs: {} })).toMatchObject({ ok: false });
    const key = { features: [{ name: 'k', type: 'categorical', context: 'toString', levels: ['x'] }] } as ContextSpec;
    expect(extractContext(key, { inputs: null, context: {} })).toEqual({ ok: true, x: [1, 0] });
  });
});
