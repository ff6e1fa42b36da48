import { Injectable } from '@nestjs/common';
import { DeploymentRegistry, RolloutStateStore } from '@switchyard/store';
import { rolloutVerdict, Verdict } from '@switchyard/strategies';
import { unknownDeployment } from '../http-errors';

/** The rollout controller's judgement of a deployment, as Argo Rollouts and Flagger ask for it (`rolloutVerdict`). */
@Injectable()
export class VerdictService {
  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly rollouts: RolloutStateStore,
  ) {}

  async verdict(name: string): Promise<Verdict> {
    const spec = await this.registry.get(name);
    if (!spec) throw unknownDeployment(name);
    // Read after the spec: a decision writes its spec and its state in one step, so a spec
    // a decision wrote is never read with the state from before it.
    const { state } = await this.rollouts.read(name);
    return rolloutVerdict(spec, state);
  }
}
