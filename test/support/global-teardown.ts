import { stopStartedInfrastructure } from './infrastructure';

export default async function globalTeardown(): Promise<void> {
  await stopStartedInfrastructure();
}
