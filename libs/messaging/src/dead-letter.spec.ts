import { DlqRecord, MAX_DLQ_HEADERS_CHARS, MAX_DLQ_KEY_CHARS, MAX_DLQ_VALUE_CHARS } from '@switchyard/contracts';
import { deadLetterMessage } from './dead-letter';
import { InboundMessage } from './batch';

const message = (over: Partial<InboundMessage>): InboundMessage => ({
  topic: 'sy.feedback',
  partition: 2,
  offset: '41',
  key: 'r-1',
  value: Buffer.from('not json'),
  headers: { 'content-type': 'application/json' },
  timestamp: '0',
  ...over,
});
const info = { reason: 'invalid feedback: value is not valid JSON', consumerGroup: 'joiner', failedAt: '2026-11-29T00:00:00.000Z' };
const record = (m: InboundMessage, attempts?: number) => JSON.parse(deadLetterMessage(m, { ...info, attempts }).value as string) as DlqRecord;

describe(deadLetterMessage.name, () => {
  it('keeps a small record whole, keyed as received, with why and where', () => {
    const out = deadLetterMessage(message({}), { ...info, attempts: 5 });
    expect(out.key).toBe('r-1');
    expect(JSON.parse(out.value as string)).toEqual({
      topic: 'sy.feedback',
      partition: 2,
      offset: '41',
      key: 'r-1',
      value: 'not json',
      headers: { 'content-type': 'application/json' },
      error: info.reason,
      consumerGroup: 'joiner',
      failedAt: info.failedAt,
      attempts: 5,
    });
  });

  it('cuts a long value, key and headers, and says how large each was', () => {
    const key = 'k'.repeat(MAX_DLQ_KEY_CHARS + 10);
    const headers = { a: 'x'.repeat(MAX_DLQ_HEADERS_CHARS - 10), b: 'y'.repeat(500 * 1024), c: 'z' };
    const value = Buffer.alloc(MAX_DLQ_VALUE_CHARS + 1, 'v');
    const out = deadLetterMessage(message({ key, headers, value }), info);
    const got = JSON.parse(out.value as string) as DlqRecord;
    expect(out.key).toBe(key.slice(0, MAX_DLQ_KEY_CHARS));
    expect(got.key).toBe(out.key);
    expect(got.keyBytes).toBe(key.length);
    expect(got.value).toHaveLength(MAX_DLQ_VALUE_CHARS);
    expect(got.valueBytes).toBe(value.length);
    // Headers are kept in order while they fit; a later small one still fits after a large one is left out.
    expect(got.headers).toEqual({ a: headers.a, c: 'z' });
    expect(got.headersBytes).toBe(3 + headers.a.length + headers.b.length + 1);
  });

  it('stays far below the broker’s 1 MiB limit for the worst text: control bytes everywhere', () => {
    const control = (n: number) => '\u0001'.repeat(n);
    const worst = message({
      key: control(900 * 1024),
      value: Buffer.from(control(900 * 1024)),
      headers: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`h${i}`, control(9000)])),
    });
    const out = deadLetterMessage(worst, info);
    expect(Buffer.byteLength(out.value as string) + Buffer.byteLength(out.key!)).toBeLessThan(600 * 1024);
  });

  it('marks nothing as cut at exactly the limits', () => {
    const got = record(
      message({ key: 'k'.repeat(MAX_DLQ_KEY_CHARS), value: Buffer.alloc(MAX_DLQ_VALUE_CHARS, 'v'), headers: { h: 'x'.repeat(MAX_DLQ_HEADERS_CHARS - 1) } }),
    );
    expect(got).not.toHaveProperty('keyBytes');
    expect(got).not.toHaveProperty('valueBytes');
    expect(got).not.toHaveProperty('headersBytes');
  });
});
