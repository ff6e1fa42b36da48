import { addReportCounts, DEFAULT_UNIT_COUNTING, ReportCounts, type UnitMemory } from './report';
import { isRedelivery } from './reward-ledger';

/** One deployment's share of a Kafka batch of predictions from one topic-partition. */
export interface ReportedBatch {
  topic: string;
  partition: number;
  /** The last offset of this deployment's messages in the batch. */
  lastOffset: string;
  /** The messages whose prediction is counted (first copies), with what each adds (`reportCounts`). */
  counted: ({ offset: string } & ReportCounts)[];
}

/**
 * One deployment's report counters and its position per predictions topic-partition, as
 * the joiner's `libs/store/src/lua/add-report.lua` keeps them: the reference that script
 * is tested against. A redelivered batch, or one a zombie joiner handles too, is counted
 * once.
 */
export class ReportLedger {
  readonly counters = new Map<string, number>();
  /** `<topic>:<partition>` → the last offset counted from it. */
  readonly positions = new Map<string, string>();
  /** The distinct units counted (`UnitMemory`). */
  readonly units: UnitMemory = new Map();

  constructor(private readonly maxUnitsPerKey = DEFAULT_UNIT_COUNTING.maxPerKey) {}

  /**
   * Counts each message not a redelivery (`isRedelivery`, against the position before the
   * batch), then moves the position to the batch's last offset when that is past it.
   */
  add(batch: ReportedBatch): void {
    const at = `${batch.topic}:${batch.partition}`;
    const position = this.positions.get(at);
    for (const { offset, ...counts } of batch.counted) {
      if (!isRedelivery(position, offset)) addReportCounts(this.counters, counts, this.units, this.maxUnitsPerKey);
    }
    if (!isRedelivery(position, batch.lastOffset)) this.positions.set(at, batch.lastOffset);
  }
}
