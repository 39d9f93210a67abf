import { runProgram } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { AdamStepOp } from '../../ops/adam.js';
import { bufOf, f32bits, gpuOf } from './backend.js';

/** The Adam / AdamW update (ops/adam.ts), one thread per element, in float32. */
registerKernel<AdamStepOp>('adamStep', 'webgpu', (backend, inputs, a) => {
  const gpu = gpuOf(backend);
  const n = inputs[0].size;
  const ams = inputs.length > 4;
  const outs = Array.from({ length: ams ? 4 : 3 }, () => gpu.alloc(Math.max(n, 1) * 4));
  const decay = a.decoupled ? 1 - a.lr * a.weightDecay : 1;
  const l2 = a.decoupled ? 0 : a.weightDecay;
  const params = [
    n,
    f32bits(a.maximize ? -1 : 1),
    f32bits(l2),
    f32bits(decay),
    // 1 − β from float64: 1 − float32(0.999) would be off by 1e-5 relative.
    f32bits(1 - a.beta1),
    f32bits(a.beta2),
    f32bits(Math.sqrt(1 - a.beta2 ** a.step)),
    f32bits(a.lr / (1 - a.beta1 ** a.step)),
    f32bits(a.eps),
    f32bits(1 - a.beta2),
  ];
  const names = ['p', 'g', 'm', 'v', ...(ams ? ['vm'] : [])];
  runProgram(
    gpu,
    {
      name: `adamStep:${ams ? 1 : 0}`,
      bindings: [
        ...names.map((name) => ({ name, type: 'f32' as const })),
        ...['po', 'mo', 'vo', ...(ams ? ['vmo'] : [])].map((name) => ({
          name,
          type: 'f32' as const,
          write: true,
        })),
      ],
      size: n,
      main: `  if (i >= pu(0u)) { return; }
  let c1 = pf(4u); let b2 = pf(5u); let c2 = pf(9u);
  let gi = pf(1u) * g[i] + pf(2u) * p[i];
  let mi = m[i] + (gi - m[i]) * c1;
  let vi = b2 * v[i] + c2 * gi * gi;
  mo[i] = mi;
  vo[i] = vi;
  var second = vi;
  ${ams ? 'second = max(vm[i], vi); vmo[i] = second;' : ''}
  po[i] = p[i] * pf(3u) - pf(7u) * mi / (sqrt(second) / pf(6u) + pf(8u));`,
    },
    params,
    [...inputs.map((t) => bufOf(t).buffer), ...outs.map((b) => b.buffer)],
  );
  return outs;
});
