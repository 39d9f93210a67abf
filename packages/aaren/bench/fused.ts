/**
 * `pnpm bench` (packages/aaren): what the fused kernels of issue 12 save, counted and timed.
 *
 * - ops per token of a 2-layer Aaren stream (dModel 64, 4 heads, dFF 256, batch 1), and per training
 *   step (forward, backward and an AdamW step) of the same model on [2, 16, 64], counted by the op
 *   recorder runOp reports to (every op that reaches a kernel or a view), with the busiest ops;
 * - the wall time of an AarenBlock(512, 8, 2048) training step on [1, 256, 512] (forward, backward,
 *   AdamW), median of repeats, against a copy of the block's parameter bytes in the same run (the
 *   ratio is the figure to compare across runs; the machine is shared).
 */
import { Aaren, AarenBlock } from '@recur/aaren';
import { alternate, median } from '@recur/bench';
import { manualSeed, noGrad, optim, randn, type Tensor, tidy } from '@recur/tensor';
import { withRecorder } from '../../tensor/src/onnx/trace.js';

const quick = process.argv.includes('--quick');
/** Only the AarenBlock training steps (for `node --cpu-prof`): no op counting, no small model. */
const stepOnly = process.argv.includes('--step-only');

function countOps(fn: () => void): { total: number; top: [string, number][] } {
  const byName = new Map<string, number>();
  withRecorder(
    {
      op: ({ op }) => byName.set(op.name, (byName.get(op.name) ?? 0) + 1),
      alias: () => {},
    },
    fn,
  );
  const top = [...byName.entries()].sort((a, b) => b[1] - a[1]);
  return { total: top.reduce((s, [, c]) => s + c, 0), top: top.slice(0, 12) };
}

function smallModelOps() {
  manualSeed(0);
  const small = new Aaren({ dModel: 64, nHeads: 4, dFF: 256, nLayers: 2 });
  const stream = small.stream(1);
  const token = randn([1, 64]);
  noGrad(() => tidy(() => void stream.step(token))); // the first step may set things up
  const streamOps = countOps(() => noGrad(() => tidy(() => void stream.step(token))));
  stream.dispose();

  const opt = new optim.AdamW(small.parameters(), { lr: 1e-3 });
  const xs = randn([2, 16, 64]);
  const trainStep = () =>
    tidy(() => {
      opt.zeroGrad();
      small.forward(xs).square().mean().backward();
      opt.step();
    });
  trainStep();
  const trainOps = countOps(trainStep);
  return { streamOps, trainOps };
}
const counted = stepOnly ? null : smallModelOps();

manualSeed(1);
const block = new AarenBlock({ dModel: 512, nHeads: 8, dFF: 2048 });
const blockOpt = new optim.AdamW(block.parameters(), { lr: 1e-4 });
const x = randn([1, 256, 512]);
const blockStep = () =>
  tidy(() => {
    blockOpt.zeroGrad();
    block.forward(x).square().mean().backward();
    blockOpt.step();
  });
const bytes = new Float32Array(block.parameters().reduce((s, p: Tensor) => s + p.size, 0));
const dst = new Float32Array(bytes.length);
const { step: stepMs, copy: copyMs } = await alternate(
  { step: blockStep, copy: () => dst.set(bytes) },
  quick ? 3 : 9,
);
const blockOps = stepOnly ? null : countOps(blockStep);

const show = (name: string, c: { total: number; top: [string, number][] }) =>
  console.log(`${name}: ${c.total} ops (${c.top.map(([n, k]) => `${n} ${k}`).join(', ')}, …)`);
if (counted && blockOps) {
  show('2-layer Aaren (64, 4 heads, dFF 256), one streaming token', counted.streamOps);
  show('2-layer Aaren, one training step on [2, 16, 64] with AdamW', counted.trainOps);
  show('AarenBlock(512, 8, 2048) training step on [1, 256, 512] with AdamW', blockOps);
}
const ms = median(stepMs);
const copy = median(copyMs);
console.log(
  `AarenBlock(512, 8, 2048) training step on [1, 256, 512] with AdamW: ${ms.toFixed(1)} ms (median of ${stepMs.length}); a copy of its ${bytes.length} parameters: ${copy.toFixed(2)} ms; step / copy = ${(ms / copy).toFixed(0)}`,
);
