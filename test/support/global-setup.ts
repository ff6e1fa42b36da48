import { randomBytes } from 'node:crypto';
import { ensureInfrastructure } from './infrastructure';

/** Once per `jest` run: infrastructure up, and a run id so runs never see each other's data. */
export default async function globalSetup(): Promise<void> {
  await ensureInfrastructure();
  process.env.TEST_RUN_ID ??= randomBytes(3).toString('hex');
}
