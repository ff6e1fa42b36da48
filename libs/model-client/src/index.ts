export * from './model.client';
