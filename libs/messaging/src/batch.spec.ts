import type { KafkaMessage } from 'kafkajs';
import { inboundMessage } from './batch';

describe(inboundMessage.name, () => {
  const kafkaMessage = (over: Partial<KafkaMessage>): KafkaMessage =>
    ({ offset: '7', key: Buffer.from('r-1'), value: Buffer.from('{"a":1}'), timestamp: '1700000000000', attributes: 0, headers: {}, ...over }) as KafkaMessage;

  it('keeps the coordinates, the key as text and the value as bytes', () => {
    const sut = inboundMessage('sy.feedback', 2, kafkaMessage({}));
    expect(sut).toEqual({
      topic: 'sy.feedback',
      partition: 2,
      offset: '7',
      key: 'r-1',
      value: Buffer.from('{"a":1}'),
      headers: {},
      timestamp: '1700000000000',
    });
  });

  it('reads headers as text: the first of a repeated header, none without a value', () => {
    const headers = { 'content-type': Buffer.from('application/json'), trace: [Buffer.from('t1'), Buffer.from('t2')], plain: 'text', empty: undefined };
    expect(inboundMessage('t', 0, kafkaMessage({ headers })).headers).toEqual({ 'content-type': 'application/json', trace: 't1', plain: 'text' });
  });

  it('answers null for a missing key or value', () => {
    const sut = inboundMessage('t', 0, kafkaMessage({ key: null, value: null }));
    expect(sut.key).toBeNull();
    expect(sut.value).toBeNull();
  });
});
