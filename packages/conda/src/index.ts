export {};
export * from './channel/index.ts';
