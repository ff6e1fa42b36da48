import { EventEmitter } from 'node:events';
import { Pool } from 'undici';

/**
 * The baselines' model call: the same undici Pool settings, request shape and
 * cancellable 500 ms deadline as `libs/model-client`, and nothing else.
 */
export function modelPool(origin: string): Pool {
  return new Pool(origin, { connections: 64, pipelining: 1, keepAliveTimeout: 30_000 });
}

export async function inferOutputs(pool: Pool, path: string, requestId: string, inputs: unknown): Promise<{ status: number; outputs: unknown }> {
  const deadline = new EventEmitter();
  const timer = setTimeout(() => deadline.emit('abort'), 500);
  try {
    const response = await pool.request({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ id: requestId, inputs }),
      signal: deadline,
    });
    const answer = JSON.parse(await response.body.text()) as { outputs: unknown };
    return { status: response.statusCode, outputs: answer.outputs };
  } finally {
    clearTimeout(timer);
  }
}
