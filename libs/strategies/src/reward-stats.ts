import type { Role } from '@switchyard/contracts';

/**
 * Where a joined reward is counted in a deployment's statistics hash: served rewards
 * under the variant's own name (what the bandit and the router read), shadow rewards
 * under `<variant>:shadow` (what the shadow report reads). Keeping them apart means a
 * bandit learns only from the traffic it actually routed, while the shadow report still
 * gets every shadow's reward.
 */
export function statsArm(variant: string, role: Role): string {
  return role === 'served' ? variant : `${variant}:shadow`;
}

/** One reward as the statistics see it. */
export interface CountedReward {
  eventId: string;
  deployment: string;
  variant: string;
  role: Role;
  reward: number;
}

/** What the statistics recorded about a deployment's arms when they last followed its spec. */
export interface RecordedArms {
  /** The spec version the recorded arm set reflects; 0 when none is recorded. */
  version: number;
  /** `since` of each recorded arm. */
  since: Record<string, number>;
}

/**
 * The first spec version of an arm's current run, the oldest version of an unbroken
 * run of versions that list the variant, ending at the current one. Rewards of
 * predictions made under an older version belong to an earlier life of the arm (before
 * it was removed and added back) and must not count.
 *
 * Only versions newer than the recorded set are looked at: an arm that was recorded and
 * is listed in all of them keeps its `since`. `variantsAt` answers the variant names of
 * a version, `null` when that version is unknown (then the run starts after it).
 * @param maxLookback versions to look back at most when nothing is recorded. @default 100
 */
export async function armSince(
  variant: string,
  currentVersion: number,
  variantsAt: (version: number) => Promise<readonly string[] | null>,
  recorded: RecordedArms = { version: 0, since: {} },
  maxLookback = 100,
): Promise<number> {
  const bottom = Math.max(1, recorded.version + 1, currentVersion - maxLookback);
  let since = currentVersion;
  for (let version = currentVersion - 1; version >= bottom; version--) {
    const names = await variantsAt(version);
    if (!names || !names.includes(variant)) return since;
    since = version;
  }
  const recordedSince = Object.hasOwn(recorded.since, variant) ? recorded.since[variant] : undefined;
  return recordedSince !== undefined && recorded.version <= currentVersion ? recordedSince : since;
}
