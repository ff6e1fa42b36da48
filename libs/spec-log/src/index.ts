export * from './spec-log';
export * from './spec-log.module';
export * from './standalone';
