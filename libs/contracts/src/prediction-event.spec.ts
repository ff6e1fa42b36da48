import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { PredictionEvent } from './events';
import { eventJson, MAX_EVENT_BYTES, predictionEvent, PredictionFields } from './prediction-event';

const now = new Date('2026-12-07T01:00:00.000Z');
const served: PredictionFields = {
  requestId: 'r-1',
  deployment: 'churn',
  variant: 'v1',
  role: 'served',
  strategy: 'canary',
  specVersion: 3,
  probability: 0.9,
  outputs: [{ name: 'p', data: [0.2] }],
  latencyMs: 1.23456789,
};

describe(predictionEvent.name, () => {
  it('writes the envelope, then the fields in one order, latency rounded to the microsecond', () => {
    const sut = predictionEvent({ ...served, unitKey: 'u-1', weightsVersion: 4, fallbackFrom: 'v2', error: undefined }, now);

    expect(sut).toEqual({
      type: 'prediction',
      version: 1,
      eventId: expect.any(String),
      occurredAt: '2026-12-07T01:00:00.000Z',
      ...served,
      latencyMs: 1.235,
      fallbackFrom: 'v2',
      unitKey: 'u-1',
      weightsVersion: 4,
    });
    expect(Object.keys(sut)).toEqual([
      'type',
      'version',
      'eventId',
      'occurredAt',
      'requestId',
      'deployment',
      'variant',
      'role',
      'strategy',
      'specVersion',
      'probability',
      'outputs',
      'latencyMs',
      'fallbackFrom',
      'unitKey',
      'weightsVersion',
    ]);
  });

  it('leaves out the optional fields that are undefined, so that no key holds undefined', () => {
    const sut = predictionEvent({ ...served, outputs: undefined, latencyMs: 0, error: 'unavailable: connection refused' }, now);

    expect(Object.keys(sut)).not.toContain('outputs');
    expect(Object.values(sut)).not.toContain(undefined);
    expect(sut.error).toBe('unavailable: connection refused');
  });

  it("writes a shadow's agreement with the primary, false included", () => {
    const sut = predictionEvent({ ...served, role: 'shadow', strategy: 'shadow', probability: 1, agreesWithPrimary: false }, now);

    expect(sut).toMatchObject({ role: 'shadow', agreesWithPrimary: false });
  });

  it('builds an event that passes the contract validation', () => {
    const sut = predictionEvent({ ...served, fallbackFrom: 'v2', unitKey: 'u-1', weightsVersion: 2 });

    expect(validateSync(plainToInstance(PredictionEvent, sut))).toEqual([]);
  });
});

describe(eventJson.name, () => {
  it('writes an event as it is under MAX_EVENT_BYTES, and past it without its outputs, flagged, still a valid event', () => {
    const small = predictionEvent(served, now);
    expect(eventJson(small)).toEqual({ json: JSON.stringify(small), trimmed: false });

    // Multi-byte characters: the limit is on bytes, not characters.
    const large = predictionEvent({ ...served, outputs: { text: 'é'.repeat(MAX_EVENT_BYTES / 2) } }, now);
    const { json, trimmed } = eventJson(large);
    expect(trimmed).toBe(true);
    const written = JSON.parse(json) as PredictionEvent;
    const { outputs: _outputs, ...rest } = large;
    expect(written).toEqual({ ...rest, outputsTrimmed: true });
    expect(written).not.toHaveProperty('outputs');
    expect(validateSync(plainToInstance(PredictionEvent, written), { whitelist: true, forbidNonWhitelisted: true })).toEqual([]);
  });
});
