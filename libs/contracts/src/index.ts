export * from './topics';
export * from './validation';
export * from './deployment';
export * from './events';
export * from './http';
export * from './envelope';
export * from './prediction-event';
export * from './evaluate';
