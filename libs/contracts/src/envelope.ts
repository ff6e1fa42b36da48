import { randomUUID } from 'node:crypto';
import { EVENT_TYPES, SCHEMA_VERSIONS } from './events';

type EventKind = keyof typeof EVENT_TYPES;

/** The four fields every event carries, for a new event of `kind`. */
export function envelope(kind: EventKind, now: Date = new Date()) {
  return {
    type: EVENT_TYPES[kind],
    version: SCHEMA_VERSIONS[kind],
    eventId: randomUUID(),
    occurredAt: now.toISOString(),
  };
}
