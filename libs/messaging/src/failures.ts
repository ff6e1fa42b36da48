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

/** What the checks below read of an error (kafkajs adds `type` and `retriable`, node and undici `code`). */
export interface ErrorLike {
  name?: string;
  message?: string;
  type?: string;
  code?: unknown;
  retriable?: unknown;
  transient?: unknown;
  cause?: unknown;
}

/** An error and its causes, outermost first; a cause that loops back ends the walk. */
export function* causeChain(error: unknown): Generator<ErrorLike> {
  const seen = new Set<unknown>();
  for (let e = error; e && typeof e === 'object' && !seen.has(e); e = (e as ErrorLike).cause) {
    seen.add(e);
    yield e as ErrorLike;
  }
}

/** kafkajs marked the error worth another try (a topic whose leaders are not known yet, say). */
export const isRetriable = (error: unknown): boolean => (error as ErrorLike | undefined)?.retriable === true;

/** Whether the error or one of its causes is `test`'s. */
export const hasCause = (error: unknown, test: (e: ErrorLike) => boolean): boolean => {
  for (const e of causeChain(error)) if (test(e)) return true;
  return false;
};

/** Classifies an error by its type, code and kafkajs's `retriable`, following its causes. */
export function classifyFailure(error: unknown): FailureKind {
  for (const e of causeChain(error)) {
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

/** A one-line reason for a DLQ record or a log: the error's name and message, and its causes'. */
export function describeError(error: unknown): string {
  if (!error || typeof error !== 'object') return String(error);
  const parts: string[] = [];
  let previous: string | undefined;
  for (const e of causeChain(error)) {
    // A cause that only repeats its wrapper's message adds nothing.
    if (parts.length && (!e.message || e.message === previous)) break;
    parts.push(`${e.name ?? 'Error'}: ${e.message ?? ''}`.trim());
    previous = e.message;
  }
  return parts.reduceRight((cause, own) => `${own} (cause: ${cause})`);
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
export const isGroupError = (error: unknown): boolean =>
  hasCause(error, (e) => (e.type !== undefined && GROUP_ERROR_TYPES.has(e.type)) || e.name === 'KafkaJSFetcherRebalanceError');
