export * from './model.client';
export * from './grpc';
export * from './grpc-server';
export * from './url-allowlist';
