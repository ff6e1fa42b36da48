import 'reflect-metadata';
import { plainToInstance, ClassConstructor } from 'class-transformer';
import { getMetadataStorage, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync, ValidateBy } from 'class-validator';
import { DEFAULT_TOPIC_PREFIX } from '@switchyard/contracts';
import { parseRedisUrl, REDIS_URL_FORMS } from './redis-url';

const DOCS = Symbol('env-docs');

/** Documents an environment variable; `--help` and docs/configuration.md list what this records. */
export function Env(description: string): PropertyDecorator {
  return (target, key) => {
    const docs: Map<string, string> = Reflect.getMetadata(DOCS, target) ?? new Map();
    Reflect.defineMetadata(DOCS, new Map(docs).set(String(key), description), target);
  };
}

const SECRETS = Symbol('env-secrets');

/** A variable whose value is never printed: `--help` says whether it is set, a boot error names it only. */
export function Secret(): PropertyDecorator {
  return (target, key) => {
    const secrets: Set<string> = Reflect.getMetadata(SECRETS, target) ?? new Set();
    Reflect.defineMetadata(SECRETS, new Set(secrets).add(String(key)), target);
  };
}

/**
 * A value with the password of any `scheme://user:password@` in it masked: REDIS_URL may
 * carry Redis credentials, and a boot error must not print them (the greedy match runs
 * to the last `@`, so a password holding a raw `@` is masked whole).
 */
function withoutCredentials(text: string): string {
  return text.replace(/(\/\/[^/@\s:]*:)\S*@/g, '$1<not shown>@');
}

function secrets(cls: ClassConstructor<object>): Set<string> {
  return Reflect.getMetadata(SECRETS, cls.prototype) ?? new Set();
}

function documented(cls: ClassConstructor<object>): Map<string, string> {
  return Reflect.getMetadata(DOCS, cls.prototype) ?? new Map();
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** Variables every service reads. Services extend it with their own. */
export class BaseEnv {
  @Env('Kafka bootstrap brokers, comma-separated')
  @Matches(/^[^,\s]+(,[^,\s]+)*$/, { message: 'must be host:port[,host:port...]' })
  KAFKA_BROKERS = '127.0.0.1:9092';

  @Env(`Redis connection URL: ${REDIS_URL_FORMS} (a cluster's nodes are seeds: the client finds the others)`)
  @ValidateBy({
    name: 'redisUrl',
    validator: { validate: (value) => typeof value === 'string' && parseRedisUrl(value) !== undefined, defaultMessage: () => `must be ${REDIS_URL_FORMS}` },
  })
  REDIS_URL = 'redis://127.0.0.1:6379';

  @Env('Connect to Kafka over TLS (true/false), with the system CA store')
  @IsIn(['true', 'false'])
  KAFKA_SSL = 'false';

  @Env('Kafka SASL mechanism (plain, scram-sha-256, scram-sha-512); unset: no SASL')
  @IsOptional()
  @IsIn(['plain', 'scram-sha-256', 'scram-sha-512'])
  KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512';

  @Env('Kafka SASL user name')
  @IsOptional()
  @IsString()
  KAFKA_SASL_USERNAME?: string;

  @Env('Kafka SASL password')
  @Secret()
  @IsOptional()
  @IsString()
  KAFKA_SASL_PASSWORD?: string;

  @Env('Prefix of every Kafka topic name')
  @Matches(/^[A-Za-z0-9._-]*$/)
  TOPIC_PREFIX = DEFAULT_TOPIC_PREFIX;

  @Env('Prefix of every Redis key')
  @Matches(/^[A-Za-z0-9._:-]*$/)
  REDIS_PREFIX = 'sy:';

  @Env('Partitions of topics the service creates at start')
  @IsInt()
  @Min(1)
  @Max(1000)
  TOPIC_PARTITIONS: number = 6;

  @Env(
    "Consumer session timeout (ms): how long before a crashed consumer's partitions go to the others (the broker's group.min.session.timeout.ms, 6000 by default, is the floor)",
  )
  @IsInt()
  @Min(6000)
  @Max(300000)
  KAFKA_SESSION_TIMEOUT_MS: number = 10000;

  @Env('Consumer heartbeat interval (ms); must be well under KAFKA_SESSION_TIMEOUT_MS')
  @IsInt()
  @Min(100)
  @Max(60000)
  KAFKA_HEARTBEAT_MS: number = 1000;

  @Env('Consumers: failures of the same message with a permanent (non-transient) error before it goes to the DLQ and the partition moves on')
  @IsInt()
  @Min(1)
  @Max(1000)
  POISON_ATTEMPTS: number = 5;

  @Env('Consumers: first retry delay (ms) of a failed batch; doubles per retry, with jitter, up to CONSUMER_RETRY_MAX_MS')
  @IsInt()
  @Min(1)
  @Max(60000)
  CONSUMER_RETRY_BASE_MS: number = 100;

  @Env('Consumers: the longest delay (ms) between retries of a failed batch')
  @IsInt()
  @Min(1)
  @Max(300000)
  CONSUMER_RETRY_MAX_MS: number = 5000;

  @Env('Consumers: /readyz turns 503 when an assigned partition with lag made no progress for this long (ms)')
  @IsInt()
  @Min(1000)
  @Max(3600000)
  CONSUMER_STALL_MS: number = 60000;

  @Env('Consumers: how often (ms) committed offsets and high-water marks are read for the lag gauge and the stall check')
  @IsInt()
  @Min(500)
  @Max(600000)
  CONSUMER_LAG_INTERVAL_MS: number = 10000;

  @Env('Replication factor of topics the service creates at start; unset: 3 on a cluster of 3 or more brokers, else 1')
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10)
  TOPIC_REPLICATION?: number;

  @Env(
    'Producer: the longest a message waits for others to share its produce request (kafkajs has no linger of its own). Adaptive: it waits only when the recent rate says more will come within this time, and only until 8 wait (64 for a router in PUBLISH_MODE=fast); 0 = always send on the next event-loop turn. Unset: 2 ms, 20 ms for a router in PUBLISH_MODE=fast',
  )
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  PRODUCER_LINGER_MS?: number;

  @Env(
    "Producer: batches in flight at once; while they are, new messages gather into the next batch. 1 keeps the idempotent producer's sequence numbers in order when a partition leader moves (kafkajs locks per broker, not per partition)",
  )
  @IsInt()
  @Min(1)
  @Max(64)
  PRODUCER_MAX_IN_FLIGHT: number = 1;

  @Env('HTTP port (API or health and metrics)')
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT: number = 3000;

  @Env(
    'Port of its own for GET /metrics, on HOST (0 picks a free one); unset: /metrics is served on PORT. Lets a network policy open scraping without opening the API',
  )
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(65535)
  METRICS_PORT?: number;

  @Env('Largest HTTP request body accepted, in bytes; a larger one gets 413 (raise it for large tensors)')
  @IsInt()
  @Min(1024)
  @Max(256 * 1024 * 1024)
  MAX_BODY_BYTES: number = 1024 * 1024;

  @Env('Address the HTTP server binds to')
  @IsString()
  HOST = '127.0.0.1';

  @Env('Log level')
  @IsIn(LOG_LEVELS)
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';

  @Env('File the JSON log lines are appended to (its folder is created) instead of stdout')
  @IsOptional()
  @IsString()
  LOG_FILE?: string;

  @Env(
    "Names this instance: Kafka client id <service>-<INSTANCE_ID> (unset: <hostname>-<pid>-<random>), the joiner's transactional id (unset: <hostname>-<PORT>), the rollout controller's lease owner; unique per running instance, stable across its restarts",
  )
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]+$/)
  INSTANCE_ID?: string;

  /**
   * How the producer batches: PRODUCER_LINGER_MS, or the default for a service whose
   * callers wait on its produce requests; `targetBatch` (messages that end a linger early)
   * unset keeps the producer's own.
   */
  producerBatching(): { lingerMs: number; targetBatch?: number } {
    return { lingerMs: this.PRODUCER_LINGER_MS ?? 2 };
  }
}

/**
 * Reads the documented variables of `cls` from `source`, converts and validates them,
 * and fails at boot with every bad one named, rather than misbehaving later.
 */
export function loadEnv<T extends object>(cls: ClassConstructor<T>, source: NodeJS.ProcessEnv = process.env): T {
  const picked = Object.fromEntries(
    [...documented(cls).keys()].filter((key) => source[key] !== undefined && source[key] !== '').map((key) => [key, source[key]]),
  );
  const env = plainToInstance(cls, picked, { enableImplicitConversion: true });
  const errors = validateSync(env);
  if (errors.length) {
    const hidden = secrets(cls);
    const lines = errors.map((e) => {
      const value = hidden.has(e.property) ? '<secret, not shown>' : withoutCredentials(JSON.stringify(picked[e.property]));
      // class-validator messages of a secret may quote its value: only the rule's name is kept.
      const why = hidden.has(e.property) ? Object.keys(e.constraints ?? {}).join('; ') : Object.values(e.constraints ?? {}).join('; ');
      return `${e.property}=${value} (${why})`;
    });
    throw new Error(`Invalid environment variables: ${lines.join(', ')}`);
  }
  return env;
}

/** One documented variable as `--help` and docs/configuration.md show it. */
export interface EnvVariable {
  name: string;
  description: string;
  /** `integer`, `number`, `string`, or the values `@IsIn` allows. */
  type: string;
  /** The class's default, as text; undefined when the variable has none. */
  defaultValue?: string;
  secret: boolean;
}

function typeOf(cls: ClassConstructor<object>, key: string): string {
  const rules = getMetadataStorage()
    .getTargetValidationMetadatas(cls, '', true, false)
    .filter((rule) => rule.propertyName === key);
  const allowed = rules.find((rule) => rule.name === 'isIn')?.constraints?.[0] as readonly unknown[] | undefined;
  if (allowed) return `one of ${allowed.join(', ')}`;
  if (rules.some((rule) => rule.name === 'isInt')) return 'integer';
  return Reflect.getMetadata('design:type', cls.prototype, key) === Number ? 'number' : 'string';
}

/** The documented variables of `cls`, in declaration order (a subclass's overrides in place). */
export function envVariables(cls: ClassConstructor<object>): EnvVariable[] {
  const defaults = new cls() as Record<string, unknown>;
  const hidden = secrets(cls);
  return [...documented(cls)].map(([name, description]) => ({
    name,
    description,
    type: typeOf(cls, name),
    defaultValue: defaults[name] === undefined ? undefined : String(defaults[name]),
    secret: hidden.has(name),
  }));
}

/** The `--help` text: one line per variable with its default; a secret says only whether `source` sets it. */
export function envHelp(cls: ClassConstructor<object>, source: NodeJS.ProcessEnv = process.env): string {
  const rows = envVariables(cls).map(({ name, description, defaultValue, secret }) => {
    const shown = secret ? ` (secret: ${source[name] ? 'set' : 'not set'})` : defaultValue === undefined ? '' : ` (default: ${defaultValue})`;
    return `  ${name.padEnd(28)} ${description}${shown}`;
  });
  return rows.join('\n');
}
