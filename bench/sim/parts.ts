/** The parts of `npm run sim`, in the order they run. Registering one is one line here. */
export { guardrails } from './guardrails';
export { ope } from './ope';
export { contextual } from './contextual';
export { opeDr } from './ope-dr';
export { decisions } from './decisions';
export { paired } from './paired';
export { latency } from './latency';
