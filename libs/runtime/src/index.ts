export * from './env';
export * from './redis-url';
export * from './health';
export * from './metrics';
export * from './runtime.module';
export * from './bootstrap';
export * from './periodic-task';
export * from './retry';
