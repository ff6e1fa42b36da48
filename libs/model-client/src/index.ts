export * from './model.client';
export * from './url-allowlist';
