export * from './redis.client';
export * from './scripts';
export * from './deployment.registry';
export * from './arm-stats.store';
export * from './store.module';
export * from './join-state';
export * from './spec-versions';
export * from './report.store';
