export * from './churn';
export * from './random';
export * from './models';
export * from './protocol';
