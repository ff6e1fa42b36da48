/** Logical topic names; the physical name is `${prefix}${name}` (prefix default `switchyard.`). */
export const TOPICS = {
  requests: 'requests',
  responses: 'responses',
  predictions: 'predictions',
  shadowRequests: 'shadow-requests',
  shadowPredictions: 'shadow-predictions',
  feedback: 'feedback',
  joined: 'joined',
  deploymentEvents: 'deployment-events',
  /** The record of every spec change (kept forever); Redis holds what it folds to. */
  deploymentSpecs: 'deployment-specs',
  /** Compacted: the latest checkpoint of each store Redis holds (StateCheckpoint), so a rebuild reads it plus the tail after it. */
  checkpoints: 'checkpoints',
  dlq: 'dlq',
} as const;

export type TopicKey = keyof typeof TOPICS;
export type TopicMap = Record<TopicKey, string>;

export const DEFAULT_TOPIC_PREFIX = 'switchyard.';

export function topicNames(prefix: string = DEFAULT_TOPIC_PREFIX): TopicMap {
  const entries = Object.entries(TOPICS).map(([key, name]) => [key, `${prefix}${name}`]);
  return Object.fromEntries(entries) as TopicMap;
}

/** Header naming the topic a Kafka-ingress answer goes to (else `responses`). */
export const REPLY_TO_HEADER = 'reply-to';
