import { Producer } from 'kafkajs';
import { FeedbackEvent, JoinedEvent, PredictionEvent, validatePlain } from '@switchyard/contracts';
import { feedbackEvent, joinedEvent, predictionEvent, sendEvents } from './events';

describe(predictionEvent.name, () => {
  it('is a valid prediction event of a served single-variant answer unless told otherwise', () => {
    const sut = predictionEvent({ requestId: 'r-1', deployment: 'churn' });

    expect(validatePlain(PredictionEvent, sut).ok).toBe(true);
    expect(sut).toMatchObject({ type: 'prediction', requestId: 'r-1', deployment: 'churn', variant: 'v1', role: 'served', strategy: 'single', probability: 1 });
  });

  it('takes every field the test gives', () => {
    expect(predictionEvent({ requestId: 'r-1', deployment: 'd', variant: 's1', role: 'shadow', strategy: 'shadow', latencyMs: 7 })).toMatchObject({
      variant: 's1',
      role: 'shadow',
      strategy: 'shadow',
      latencyMs: 7,
    });
  });

  it('gives each event an eventId of its own', () => {
    expect(predictionEvent({ requestId: 'r', deployment: 'd' }).eventId).not.toBe(predictionEvent({ requestId: 'r', deployment: 'd' }).eventId);
  });
});

describe(feedbackEvent.name, () => {
  it('is a valid feedback event carrying what the test gives', () => {
    const sut = feedbackEvent({ requestId: 'r-1', label: 1, deployment: 'churn' });

    expect(validatePlain(FeedbackEvent, sut).ok).toBe(true);
    expect(sut).toMatchObject({ type: 'feedback', requestId: 'r-1', label: 1, deployment: 'churn' });
  });
});

describe(joinedEvent.name, () => {
  it('is a valid joined event whose eventId depends on the pair only', () => {
    const sut = joinedEvent({ requestId: 'r', deployment: 'd', variant: 'a', reward: 1 });

    expect(validatePlain(JoinedEvent, sut).ok).toBe(true);
    expect(joinedEvent({ requestId: 'r', deployment: 'd', variant: 'a', reward: 0 }).eventId).toBe(sut.eventId);
    expect(joinedEvent({ requestId: 'r', deployment: 'd', variant: 'a', role: 'shadow', reward: 1 }).eventId).not.toBe(sut.eventId);
  });
});

describe(sendEvents.name, () => {
  it('sends events as JSON keyed by requestId and strings as they are, in one request', async () => {
    const send = jest.fn().mockResolvedValue([]);
    const event = feedbackEvent({ requestId: 'r-1', reward: 1 });

    await sendEvents({ send } as unknown as Producer, 'topic', [event, 'not json']);

    expect(send.mock.calls).toEqual([
      [
        {
          topic: 'topic',
          messages: [
            { key: 'r-1', value: JSON.stringify(event) },
            { key: 'poison', value: 'not json' },
          ],
        },
      ],
    ]);
  });
});
