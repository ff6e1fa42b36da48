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
