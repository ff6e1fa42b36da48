export * from './model.client';
export * from './grpc';
