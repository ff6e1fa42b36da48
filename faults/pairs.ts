/** A record as the fault suite reads it back from a topic. */
export interface Read {
  topic: string;
  key: string | null;
  value: any;
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
  feedback: Map<string, Read>;
  /** Joined events of this side, by request. */
  joins: Map<string, number>;
  /** Whether the joiner had consumed a record into the Redis that was later lost. */
  consumedBeforeRedisLoss: (record: Read) => boolean;
}

export interface PairCount {
  /** Pairs that must join exactly once: a first prediction that is not an error, and feedback. */
  joinable: string[];
  /** Of them, one half consumed into the lost Redis and the other after: they cannot join (issue #13). */
  split: string[];
  /** Joinable, not split, never joined: a loss. */
  lost: string[];
}

/**
 * Which pairs of one side (served or shadow) had to join, and which did not. The joiner
 * keeps a request's first prediction event, so a pair is judged by that one: a redelivery
 * that succeeded after a first attempt failed (a model timeout, say) does not make it
 * joinable. A pair split by the Redis restart is reported apart, not counted as lost.
 */
export function countPairs({ requestIds, prediction, feedback, joins, consumedBeforeRedisLoss }: PairInput): PairCount {
  const count: PairCount = { joinable: [], split: [], lost: [] };
  const consumedBefore = (record: Read | undefined) => record !== undefined && consumedBeforeRedisLoss(record);
  for (const id of requestIds) {
    const first = prediction.get(id);
    if (!first || first.value.error !== undefined) continue;
    count.joinable.push(id);
    if (consumedBefore(first) !== consumedBefore(feedback.get(id))) count.split.push(id);
    else if (!joins.get(id)) count.lost.push(id);
  }
  return count;
}
