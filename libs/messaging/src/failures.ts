/**
 * What a consumer does with a handler error depends on whether trying again later can
 * help. Transient: the broker, the network, Redis's connection or a model's deadline —
 * retried with backoff for as long as it lasts, never sent to the DLQ. Permanent: a value
 * the code cannot handle (a Lua error, a corrupt Redis value, an event over the broker's
 * size limit, a bug) — after `POISON_ATTEMPTS` failures on the same message it goes to the
 * DLQ and the partition moves on. Anything not recognised as transient is permanent.
 */
export type FailureKind = 'transient' | 'permanent';

/** Throw (or wrap in) this to mark an error transient whatever its type. */
export class TransientError extends Error {
  readonly transient = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

// Socket and DNS errors (node), undici's connection and deadline errors.
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const TRANSIENT_NAMES = new Set([
  'TransientError',
  // ioredis gave up on a command while disconnected.
  'MaxRetriesPerRequestError',
  // Deadlines: AbortSignal.timeout, undici, our model client.
  'TimeoutError',
  'AbortError',
  'HeadersTimeoutError',
  'BodyTimeoutError',
  'ConnectTimeoutError',
  // kafkajs: its own retries ran out on retriable errors (it restarts consumers on these too).
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSLockTimeout',
]);

// Redis answers these while it is loading, failing over or busy: the command may pass later.
const TRANSIENT_REDIS_REPLIES = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS|MOVED|ASK)\b/;
// ioredis's messages when the connection is gone.
const TRANSIENT_REDIS_MESSAGES = /^(Connection is closed\.|Stream isn't writeable|Reached the max retries per request limit)/;

interface ErrorLike {
  name?: string;
  message?: string;
  code?: unknown;
  retriable?: unknown;
  transient?: unknown;
  cause?: unknown;
}

/** Classifies an error by its type, code and kafkajs's `retriable`, following its causes. */
export function classifyFailure(error: unknown): FailureKind {
  const seen = new Set<unknown>();
  for (let e = error as ErrorLike | undefined; e && typeof e === 'object' && !seen.has(e); e = e.cause as ErrorLike | undefined) {
    seen.add(e);
    if (e.transient === true) return 'transient';
    if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return 'transient';
    if (e.name && TRANSIENT_NAMES.has(e.name)) return 'transient';
    const message = e.message ?? '';
    if (e.name === 'ReplyError') return TRANSIENT_REDIS_REPLIES.test(message) ? 'transient' : 'permanent';
    if (TRANSIENT_REDIS_MESSAGES.test(message)) return 'transient';
    // kafkajs marks every error it raises; a protocol error such as MESSAGE_TOO_LARGE is not retriable.
    if (e.name?.startsWith('KafkaJS') && e.cause === undefined) return e.retriable === true ? 'transient' : 'permanent';
  }
  return 'permanent';
}

export interface BackoffOptions {
  /** Delay before the first retry. @default 100 */
  baseMs?: number;
  /** The most any retry waits. @default 5000 */
  maxMs?: number;
}

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential, capped, with
 * "equal jitter" (half fixed, half random) so a fleet of consumers hit by the same outage
 * does not retry in lockstep, yet each still waits at least half the step.
 */
export function backoffMs(attempt: number, { baseMs = 100, maxMs = 5000 }: BackoffOptions = {}, random: () => number = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(step / 2 + (random() * step) / 2);
}

/** A one-line reason for a DLQ record or a log: the error's name and message, and its cause's. */
export function describeError(error: unknown): string {
  const e = error as ErrorLike | undefined;
  if (!e || typeof e !== 'object') return String(error);
  const own = `${e.name ?? 'Error'}: ${e.message ?? ''}`.trim();
  const cause = e.cause as ErrorLike | undefined;
  return cause && typeof cause === 'object' && cause.message && cause.message !== e.message ? `${own} (cause: ${describeError(cause)})` : own;
}

// kafkajs must see these itself: the group is rebalancing or this member was fenced, so
// the batch in hand is no longer ours to finish. Never counted against a message.
const GROUP_ERROR_TYPES = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'NOT_COORDINATOR',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
]);

/** A group-membership or producer-fencing error, to hand back to kafkajs as is. */
export function isGroupError(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = error as (ErrorLike & { type?: string }) | undefined; e && typeof e === 'object' && !seen.has(e); e = e.cause as ErrorLike | undefined) {
    seen.add(e);
    if (e.type && GROUP_ERROR_TYPES.has(e.type)) return true;
    if (e.name === 'KafkaJSFetcherRebalanceError') return true;
  }
  return false;
}
