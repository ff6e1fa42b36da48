/** A record as the fault suite reads it back from a topic. */
export interface Read {
  topic: string;
  key: string | null;
  value: any;
  /** The record's bytes, to validate it as the services do. */
  raw?: Buffer | null;
  partition: number;
  offset: number;
}

/**
 * The first record of each request, by offset: the copy the joiner keeps when a
 * redelivery wrote an event twice (the copies share the request's partition, its key).
 */
export function firstByRequest(records: Read[]): Map<string, Read> {
  const first = new Map<string, Read>();
  for (const record of records) {
    const id = record.value?.requestId as string;
    const kept = first.get(id);
    if (!kept || (kept.partition === record.partition && record.offset < kept.offset)) first.set(id, record);
  }
  return first;
}

export interface PairInput {
  /** Requests whose feedback was accepted. */
  requestIds: string[];
  /** The first prediction event of each request on the side being checked (served or shadow). */
  prediction: Map<string, Read>;
  /** Joined events of this side, by request. */
  joins: Map<string, number>;
}

export interface PairCount {
  /** Pairs that must join exactly once: a first prediction that is not an error, and feedback. */
  joinable: string[];
  /** Joinable, never joined: a loss (the Redis restart included: the joiner rebuilds its state from Kafka). */
  lost: string[];
}

/**
 * Which pairs of one side (served or shadow) had to join, and which did not. The joiner
 * keeps a request's first prediction event, so a pair is judged by that one: a redelivery
 * that succeeded after a first attempt failed (a model timeout, say) does not make it
 * joinable.
 */
export function countPairs({ requestIds, prediction, joins }: PairInput): PairCount {
  const count: PairCount = { joinable: [], lost: [] };
  for (const id of requestIds) {
    const first = prediction.get(id);
    if (!first || first.value.error !== undefined) continue;
    count.joinable.push(id);
    if (!joins.get(id)) count.lost.push(id);
  }
  return count;
}
