export * from './creation.js';
export * from './cumulative.js';
export * from './elementwise.js';
export * from './indexing.js';
export * from './matmul.js';
export * from './movement.js';
export * from './reduce.js';
export * from './softmax.js';
