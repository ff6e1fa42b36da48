export * from './model.client';
export * from './grpc';
export * from './url-allowlist';
