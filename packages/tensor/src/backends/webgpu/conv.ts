import { output, runProgram, wt } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { Im2colAttrs, Im2colOp } from '../../ops/conv.js';
import { sizeOf } from '../../shape.js';
import { bufOf, gpuOf } from './backend.js';

/**
 * im2col: one thread per element of the columns [N, C·kH·kW, outH·outW], reading its pixel or 0 in
 * the padding. col2im, its adjoint: one thread per image pixel, summing the column entries that came
 * from it over kernel offsets (i, j) in ascending order (the CPU kernel's order), with no atomics.
 */

function params(a: Im2colAttrs, n: number): number[] {
  return [
    n,
    a.channels,
    a.height,
    a.width,
    a.kernelH,
    a.kernelW,
    a.strideH,
    a.strideW,
    a.dilationH,
    a.dilationW,
    a.padTop,
    a.padLeft,
    a.outH,
    a.outW,
  ];
}

const UNPACK = `let C = pu(1u); let H = pu(2u); let W = pu(3u);
  let kH = pu(4u); let kW = pu(5u); let sH = pu(6u); let sW = pu(7u);
  let dH = pu(8u); let dW = pu(9u); let pT = pu(10u); let pL = pu(11u);
  let oH = pu(12u); let oW = pu(13u);`;

registerKernel<Im2colOp>('im2col', 'webgpu', (backend, [X], a, [s]) => {
  const gpu = gpuOf(backend);
  const cols = output(gpu, s);
  const n = sizeOf(s.shape);
  const t = wt(s.dtype);
  runProgram(
    gpu,
    {
      name: `im2col:${t}`,
      bindings: [
        { name: 'x', type: t },
        { name: 'cols', type: t, write: true },
      ],
      size: n,
      main: `  if (i >= pu(0u)) { return; }
  ${UNPACK}
  let L = oH * oW;
  let rows = C * kH * kW;
  let pos = i % L;
  let row = (i / L) % rows;
  let b = i / (L * rows);
  let oh = pos / oW; let ow = pos % oW;
  let c = row / (kH * kW);
  let ki = (row / kW) % kH; let kj = row % kW;
  let ih = i32(oh * sH + ki * dH) - i32(pT);
  let iw = i32(ow * sW + kj * dW) - i32(pL);
  var v = ${t}(0);
  if (ih >= 0 && ih < i32(H) && iw >= 0 && iw < i32(W)) {
    v = x[((b * C + c) * H + u32(ih)) * W + u32(iw)];
  }
  cols[i] = v;`,
    },
    params(a, n),
    [bufOf(X).buffer, cols.buffer],
  );
  return [cols];
});

registerKernel<Im2colOp>('col2im', 'webgpu', (backend, [Cols], a, [s]) => {
  const gpu = gpuOf(backend);
  const img = output(gpu, s);
  const n = sizeOf(s.shape);
  const t = wt(s.dtype);
  runProgram(
    gpu,
    {
      name: `col2im:${t}`,
      bindings: [
        { name: 'cols', type: t },
        { name: 'img', type: t, write: true },
      ],
      size: n,
      main: `  if (i >= pu(0u)) { return; }
  ${UNPACK}
  let L = oH * oW;
  let rows = C * kH * kW;
  let iw = i % W;
  let ih = (i / W) % H;
  let c = (i / (W * H)) % C;
  let b = i / (W * H * C);
  var acc = ${t}(0);
  for (var ki = 0u; ki < kH; ki = ki + 1u) {
    let th = i32(ih + pT) - i32(ki * dH);
    if (th < 0 || th % i32(sH) != 0) { continue; }
    let oh = u32(th) / sH;
    if (oh >= oH) { continue; }
    for (var kj = 0u; kj < kW; kj = kj + 1u) {
      let tw = i32(iw + pL) - i32(kj * dW);
      if (tw < 0 || tw % i32(sW) != 0) { continue; }
      let ow = u32(tw) / sW;
      if (ow >= oW) { continue; }
      acc = acc + cols[(b * rows + (c * kH + ki) * kW + kj) * L + oh * oW + ow];
    }
  }
  img[i] = acc;`,
    },
    params(a, n),
    [bufOf(Cols).buffer, img.buffer],
  );
  return [img];
});
