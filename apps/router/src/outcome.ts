/**
 * What the router's domain services (predict, evaluate) answer: a value, or why there is
 * none, in the domain's words. http-errors.ts maps a failure to its HTTP answer, the
 * Kafka ingress to an error reply; the services know neither.
 */
export type Outcome<T> = { ok: true; value: T } | Failure;

export type Failure =
  | {
      ok: false;
      /**
       * `not-found`: no such deployment; `duplicate-request`: the client's request id was used before;
       * `model-failed`: the model gave no answer (down, timeout, 5xx, unreadable answer);
       * `unavailable`: the router could not do its part (record the prediction), retry later;
       * `busy`: the router runs as many of these as it may, retry later.
       */
      error: 'not-found' | 'duplicate-request' | 'model-failed' | 'unavailable' | 'busy';
      message: string;
    }
  | {
      ok: false;
      /** Every arm tried refused the inputs: the client's 4xx, `status` the model's when it speaks of the inputs. */
      error: 'input-rejected';
      status: 400 | 413 | 422;
      message: string;
    }
  | {
      ok: false;
      /** The logged traffic cannot tell what the policy would earn: `reasons` say why, `n` is the samples used. */
      error: 'cannot-evaluate';
      message: string;
      reasons: string[];
      n: number;
    };

export type FailureKind = Failure['error'];

export const success = <T>(value: T): Outcome<T> => ({ ok: true, value });

export const deploymentNotFound = (name: string): Failure => ({ ok: false, error: 'not-found', message: `deployment "${name}" does not exist` });
