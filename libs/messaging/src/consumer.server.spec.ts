import { readFrom } from './consumer.server';

describe(readFrom.name, () => {
  it("is the fetch offset for the batch's first messages, even below the first message (aborted or control records before it)", () => {
    expect(readFrom('0', '3', '3')).toBe('0');
  });

  it("is the first message's own offset for a later part of a split batch, or without a fetch offset", () => {
    expect(readFrom('0', '3', '7')).toBe('7');
    expect(readFrom(undefined, '3', '3')).toBe('3');
  });
});
