import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Pool } from 'undici';
import { InferResponse, StoredVariant } from '@switchyard/contracts';

/** Enough for a 2-core router at saturation; undici queues beyond it. */
const CONNECTIONS_PER_ORIGIN = 64;

export type ModelErrorKind = 'timeout' | 'unavailable' | 'server-error' | 'rejected' | 'bad-response';

/** Why a variant did not answer. `retryable` kinds are retried within the variant's budget. */
export class ModelError extends Error {
  constructor(
    readonly kind: ModelErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ModelError';
  }

  get retryable(): boolean {
    return this.kind !== 'rejected' && this.kind !== 'bad-response';
  }
}

export interface ModelAnswer {
  /** The model's own outputs: the OIP `outputs` array (v2) or the `outputs` value (json). */
  outputs: unknown;
  latencyMs: number;
  attempts: number;
}

/** Extra OIP request fields forwarded as they came (OIP ingress). */
export interface InferExtras {
  parameters?: Record<string, unknown>;
  outputs?: unknown[];
}

/**
 * Calls variants over the Open Inference Protocol v2 or plain JSON, with one keep-alive
 * connection pool per model server, a timeout per attempt and retries on transient
 * failures (timeout, connection refused, 5xx) only.
 */
@Injectable()
export class ModelClient implements OnApplicationShutdown {
  private readonly pools = new Map<string, Pool>();

  async infer(variant: StoredVariant, inputs: unknown, requestId: string, extras: InferExtras = {}): Promise<ModelAnswer> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const outputs = await this.attempt(variant, inputs, requestId, extras);
        return { outputs, latencyMs: performance.now() - started, attempts: attempt };
      } catch (error) {
        const failure = classify(error, variant);
        if (!failure.retryable || attempt > variant.retries) throw failure;
      }
    }
  }

  private async attempt(variant: StoredVariant, inputs: unknown, requestId: string, extras: InferExtras): Promise<unknown> {
    const url = new URL(variant.url);
    const basePath = url.pathname.replace(/\/+$/, '');
    const v2 = variant.protocol === 'v2';
    const path = v2 ? `${basePath}/v2/models/${encodeURIComponent(variant.model ?? '')}/infer` : basePath || '/';
    const body = v2 ? { id: requestId, inputs, ...extras } : { inputs };
    const response = await this.pool(url.origin).request({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(variant.timeoutMs),
    });
    const text = await response.body.text();
    if (response.statusCode >= 500) throw new ModelError('server-error', `model answered ${response.statusCode}: ${snippet(text)}`, response.statusCode);
    if (response.statusCode >= 400) throw new ModelError('rejected', `model rejected the request (${response.statusCode}): ${snippet(text)}`, response.statusCode);
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new ModelError('bad-response', `model answered with invalid JSON: ${snippet(text)}`);
    }
    return v2 ? v2Outputs(answer) : jsonOutputs(answer);
  }

  private pool(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { connections: CONNECTIONS_PER_ORIGIN, pipelining: 1, keepAliveTimeout: 30_000 });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
    this.pools.clear();
  }
}

function v2Outputs(answer: unknown): InferResponse['outputs'] {
  const outputs = (answer as Partial<InferResponse> | null)?.outputs;
  if (!Array.isArray(outputs)) throw new ModelError('bad-response', 'model answer has no OIP "outputs" array');
  return outputs;
}

function jsonOutputs(answer: unknown): unknown {
  if (answer === null || typeof answer !== 'object' || !('outputs' in answer)) {
    throw new ModelError('bad-response', 'model answer has no "outputs" field');
  }
  return (answer as { outputs: unknown }).outputs;
}

function classify(error: unknown, variant: StoredVariant): ModelError {
  if (error instanceof ModelError) return error;
  const err = error as Error & { code?: string };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') {
    return new ModelError('timeout', `model did not answer within ${variant.timeoutMs} ms`);
  }
  return new ModelError('unavailable', `model unreachable at ${variant.url}: ${err.code ?? err.message}`);
}

function snippet(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
