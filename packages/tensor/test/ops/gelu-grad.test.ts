import { it } from 'vitest';
import { gelu } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { direction, vjp } from '../helpers/gradcheck.js';
import { normalCdfRef } from '../helpers/reference.js';

describeBackends('gelu backward (fused geluGrad)', () => {
  it('equals dy · (Φ(x) + x·φ(x)) in float64 over ±12, across workgroup boundaries', async () => {
    // 301 points (more than a 256-thread workgroup), both tails and the erfc branch (x < −√2/2).
    const x = Array.from({ length: 301 }, (_, i) => Math.fround(-12 + i * 0.08));
    const w = direction(x.length, 5);
    const pdf = (v: number) => Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
    const { grads } = await vjp(gelu, [{ shape: [x.length], data: x }], w);
    const want = x.map((v, i) => (w[i] as number) * (normalCdfRef(v) + v * pdf(v)));
    expectClose(grads[0] as Float64Array, want, { rtol: 1e-5, atol: 2e-7 });
  });
});
