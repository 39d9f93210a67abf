import type { TypedArray } from '../../dtype.js';
import { registerKernel } from '../../kernels.js';
import type { Im2colAttrs, Im2colOp } from '../../ops/conv.js';
import { sizeOf } from '../../shape.js';
import { alloc, arr } from './backend.js';

/**
 * For kernel offset `off` (= k·dilation − padBefore) along an axis of `size` read with `stride`, the
 * output positions [lo, hi) whose input index o·stride + off falls inside [0, size). Positions outside
 * read the zero padding, which the kernels skip (fresh buffers are already zero).
 */
function validRange(off: number, size: number, stride: number, out: number): [number, number] {
  const lo = off >= 0 ? 0 : Math.ceil(-off / stride);
  const last = size - 1 - off; // o·stride <= last
  const hi = last < 0 ? 0 : Math.min(out, Math.floor(last / stride) + 1);
  return [Math.min(lo, out), Math.max(hi, Math.min(lo, out))];
}

/**
 * Walks every (image, channel, kernel row, kernel column, output row) segment of the columns matrix
 * [N, C·kH·kW, outH·outW] and the input image row it reads, calling nothing per element. `gather`
 * copies image → columns (im2col); otherwise columns are added back into the image (col2im).
 */
function walk(img: TypedArray, cols: TypedArray, n: number, a: Im2colAttrs, gather: boolean): void {
  const {
    channels,
    height,
    width,
    kernelH,
    kernelW,
    strideH,
    strideW,
    dilationH,
    dilationW,
    padTop,
    padLeft,
    outH,
    outW,
  } = a;
  const plane = height * width;
  const colRanges: [number, number][] = [];
  for (let j = 0; j < kernelW; j++)
    colRanges.push(validRange(j * dilationW - padLeft, width, strideW, outW));
  let o = 0; // start of the current output row in cols
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < channels; c++) {
      const base = (b * channels + c) * plane;
      for (let i = 0; i < kernelH; i++) {
        const dh = i * dilationH - padTop;
        for (let j = 0; j < kernelW; j++) {
          const dw = j * dilationW - padLeft;
          const [lo, hi] = colRanges[j]!;
          for (let oh = 0; oh < outH; oh++, o += outW) {
            const ih = oh * strideH + dh;
            if (ih < 0 || ih >= height || lo >= hi) continue;
            const row = base + ih * width + dw;
            if (gather) {
              if (strideW === 1) {
                for (let ow = lo; ow < hi; ow++) cols[o + ow] = img[row + ow]!;
              } else {
                for (let ow = lo; ow < hi; ow++) cols[o + ow] = img[row + ow * strideW]!;
              }
            } else if (strideW === 1) {
              for (let ow = lo; ow < hi; ow++) img[row + ow] = img[row + ow]! + cols[o + ow]!;
            } else {
              for (let ow = lo; ow < hi; ow++) {
                const p = row + ow * strideW;
                img[p] = img[p]! + cols[o + ow]!;
              }
            }
          }
        }
      }
    }
  }
}

registerKernel<Im2colOp>('im2col', 'cpu', (_b, [X], a, [s]) => {
  const cols = alloc(s.dtype, sizeOf(s.shape));
  walk(arr(X), cols, X.shape[0]!, a, true);
  return [cols];
});

registerKernel<Im2colOp>('col2im', 'cpu', (_b, [C], a, [s]) => {
  const img = alloc(s.dtype, sizeOf(s.shape));
  walk(img, arr(C), C.shape[0]!, a, false);
  return [img];
});
