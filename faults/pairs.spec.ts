import { countPairs, firstByRequest, PairInput, Read } from './pairs';

const record = (topic: string, requestId: string, offset: number, extra: Record<string, unknown> = {}): Read => ({
  topic,
  key: requestId,
  value: { requestId, ...extra },
  partition: 0,
  offset,
});

function input(over: Partial<PairInput> & { records: Read[] }): PairInput {
  return {
    requestIds: ['a'],
    prediction: firstByRequest(over.records.filter((r) => r.topic === 'predictions')),
    joins: new Map(),
    ...over,
  };
}

describe(countPairs.name, () => {
  it('counts a pair with a good first prediction and feedback that never joined as lost', () => {
    const count = countPairs(input({ records: [record('predictions', 'a', 0), record('feedback', 'a', 0)] }));
    expect(count).toEqual({ joinable: ['a'], lost: ['a'] });
  });

  it('counts a joined pair as joinable and not lost', () => {
    const count = countPairs(input({ records: [record('predictions', 'a', 0), record('feedback', 'a', 0)], joins: new Map([['a', 1]]) }));
    expect(count).toEqual({ joinable: ['a'], lost: [] });
  });

  // The fault suite's flake: the shadow worker's batch failed after a model timeout was
  // written, was redelivered and answered; the joiner keeps the first (failed) prediction.
  it('judges a pair by its first prediction event: a failed first copy is not joinable, even if a redelivery succeeded', () => {
    const records = [
      record('predictions', 'a', 3, { error: 'timeout: model did not answer within 1000 ms' }),
      record('predictions', 'a', 7),
      record('feedback', 'a', 0),
    ];
    expect(countPairs(input({ records }))).toEqual({ joinable: [], lost: [] });
  });

  it('judges a pair by its first prediction event: a good first copy must join, even if a redelivery failed', () => {
    const records = [record('predictions', 'a', 7, { error: 'timeout' }), record('predictions', 'a', 3), record('feedback', 'a', 0)];
    expect(countPairs(input({ records })).lost).toEqual(['a']);
  });

  it('skips requests without a prediction event (the run counts those as missing events)', () => {
    expect(countPairs(input({ records: [record('feedback', 'a', 0)] }))).toEqual({ joinable: [], lost: [] });
  });
});
