import { Injectable } from '@nestjs/common';
import { KafkaClient, readRange } from '@switchyard/messaging';
import { buildHistory, DeploymentHistory, HistoryEvent } from './history';

/** Most events of one deployment a history answer is built from: the latest ones. */
export const HISTORY_LIMIT = 5000;
/** Answers are reused this long, so dashboards polling at once cost one Kafka read. */
const CACHE_MS = 2000;

/**
 * `GET /v1/deployments/{name}/history`: a bounded read of `deployment-events` (keyed by
 * deployment, so only that deployment's partition is read; small: spec changes, decisions
 * and weight snapshots at most every SNAPSHOT_INTERVAL_MS), so the series survive a
 * router restart and agree between router instances. Each read starts at the beginning
 * of the partition: cheap at this topic's volume, though a retention of months of bandit
 * snapshots would call for reading on from the last answer instead.
 */
@Injectable()
export class HistoryService {
  private readonly cache = new Map<string, { at: number; answer: Promise<DeploymentHistory> }>();

  constructor(private readonly kafka: KafkaClient) {}

  history(deployment: string): Promise<DeploymentHistory> {
    const cached = this.cache.get(deployment);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.answer;
    const answer = this.read(deployment);
    this.cache.set(deployment, { at: Date.now(), answer });
    answer.catch(() => this.cache.delete(deployment));
    for (const [name, entry] of this.cache) if (Date.now() - entry.at > CACHE_MS) this.cache.delete(name);
    return answer;
  }

  private async read(deployment: string): Promise<DeploymentHistory> {
    const messages = await readRange(this.kafka, this.kafka.topics.deploymentEvents, {
      groupPrefix: `${this.kafka.clientId}-history`,
      key: deployment,
      filter: (message) => message.key === deployment,
      limit: HISTORY_LIMIT,
      timeoutMs: 5000,
    });
    const events: HistoryEvent[] = [];
    for (const message of messages) {
      try {
        const event = JSON.parse(message.value ?? '') as HistoryEvent & { deployment?: string };
        if (event && typeof event === 'object' && event.deployment === deployment) events.push(event);
      } catch {
        // Not ours to judge: a malformed event is left out of the series.
      }
    }
    return buildHistory(deployment, events);
  }
}
