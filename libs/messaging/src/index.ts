export * from './batching-producer';
export * from './kafka.client';
export * from './consumer.server';
export * from './messaging.module';
export * from './parse-batch';
export * from './read-range';
export * from './partitioner';
