import { registerBackend } from '../../kernels.js';
import { cpu } from './backend.js';
import './elementwise.js';
import './reduce.js';
import './movement.js';
import './indexing.js';
import './cumulative.js';
import './matmul.js';
import './conv.js';
import './cross-entropy.js';
import './adam.js';
import './attention.js';
import './norm.js';

registerBackend(cpu);

export { cpu };
