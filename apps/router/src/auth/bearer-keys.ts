import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Comma-separated keys, each at least 16 characters: what ADMIN_API_KEY and FEEDBACK_API_KEY hold. */
export const KEY_LIST = /^[^,\s]{16,}(,[^,\s]{16,})*$/;

/**
 * The keys a route accepts as `Authorization: Bearer <key>`; several at once, so that an
 * old and a new key both work during a rotation.
 */
export class BearerKeys {
  private readonly digests: Buffer[];

  constructor(list: string | undefined) {
    this.digests = (list ? list.split(',') : []).map(digest);
  }

  get configured(): boolean {
    return this.digests.length > 0;
  }

  /**
   * Compares fixed-length digests, and against every key whichever matches, so neither
   * the length of what was sent nor which key it is shows in the time taken.
   */
  accepts(authorization: unknown): boolean {
    const presented = digest(typeof authorization === 'string' && authorization.startsWith('Bearer ') ? authorization.slice(7) : '');
    let accepted = false;
    for (const expected of this.digests) accepted = timingSafeEqual(presented, expected) || accepted;
    return accepted;
  }
}
