import 'reflect-metadata';
import { register } from 'prom-client';
import { FeedbackEvent, feedbackProblem } from '@switchyard/contracts';
import { InboundMessage } from './batch';
import { parseBatch, skipRejected } from './parse-batch';

const message = (offset: string, value: string): InboundMessage => ({
  topic: 'switchyard.feedback',
  partition: 0,
  offset,
  key: 'r1',
  value: Buffer.from(value),
  headers: {},
  timestamp: '0',
});

describe(parseBatch.name, () => {
  it('splits a batch with hostile records into the valid ones and the refused ones with reasons, without throwing', () => {
    const deep = `{"requestId":"r2","label":${'['.repeat(8000)}${']'.repeat(8000)}}`;
    const sut = parseBatch(
      FeedbackEvent,
      [message('0', '{"requestId":"r1","label":1}'), message('1', deep), message('2', '{"requestId":"r3","reward":1e400}'), message('3', '{"requestId":"r4"}')],
      'feedback',
      feedbackProblem,
    );
    expect(sut.accepted.map(({ value }) => value.requestId)).toEqual(['r1']);
    expect(sut.rejected.map(({ message: { offset }, reason }) => [offset, reason])).toEqual([
      ['1', 'invalid feedback: value is not valid JSON: nested deeper than 64 levels'],
      ['2', 'invalid feedback: value is not valid JSON: a number is out of the range of a double (±1.8e308)'],
      ['3', 'invalid feedback: feedback needs a label or a reward'],
    ]);
  });
});

describe(skipRejected.name, () => {
  it('counts and logs each skipped record with its reason', async () => {
    const warn = jest.fn();
    const before = (await register.getSingleMetric('switchyard_records_skipped_total')!.get()).values.find((v) => v.labels.reader === 'test')?.value ?? 0;
    skipRejected([{ message: message('7', '{}'), reason: 'invalid feedback: why' }], 'test', { warn });
    const after = (await register.getSingleMetric('switchyard_records_skipped_total')!.get()).values.find((v) => v.labels.reader === 'test')?.value;
    expect(after).toBe(before + 1);
    expect(warn).toHaveBeenCalledWith(
      { reader: 'test', topic: 'switchyard.feedback', partition: 0, offset: '7', reason: 'invalid feedback: why' },
      'skipped a record that is not valid',
    );
  });
});
