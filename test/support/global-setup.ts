import { randomBytes } from 'node:crypto';
import { ensureInfrastructure, ensureRedisCluster } from './infrastructure';

/** Once per `jest` run: infrastructure (a Redis Cluster too) up, a run id so runs never see each other's data, and an admin key. */
export default async function globalSetup(): Promise<void> {
  await ensureInfrastructure();
  ensureRedisCluster();
  process.env.TEST_RUN_ID ??= randomBytes(3).toString('hex');
  // The control plane is closed by default: every service the tests start gets this key, and `http()` sends it.
  process.env.ADMIN_API_KEY ??= `test-admin-${randomBytes(12).toString('hex')}`;
}
