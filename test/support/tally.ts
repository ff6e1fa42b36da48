import { addReward, ArmStats, CountedReward, emptyStats, statsArm } from '@switchyard/strategies';

/**
 * The statistics a set of joined events should produce, each eventId counted once
 * (the first copy wins): deployment → `statsArm` → stats. This is the specification
 * the updater's Redis script implements, and what tests recount a topic with.
 */
export function tallyRewards(events: Iterable<CountedReward>): Map<string, Record<string, ArmStats>> {
  const seen = new Set<string>();
  const tally = new Map<string, Record<string, ArmStats>>();
  for (const event of events) {
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    const arms = tally.get(event.deployment) ?? tally.set(event.deployment, {}).get(event.deployment)!;
    const arm = statsArm(event.variant, event.role);
    arms[arm] = addReward(arms[arm] ?? emptyStats(), event.reward);
  }
  return tally;
}
