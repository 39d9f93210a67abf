// The example of README.md (test/readme.test.ts checks that the two agree and that it runs).
import { Aft, AftConv2d } from '@recur/aft';
import { arange, manualSeed, nn, noGrad, optim, randn, tidy } from '@recur/tensor';

manualSeed(0);
// A causal AFT-local stack: biases learned within 8 tokens, every earlier token still seen.
const model = new Aft({ variant: 'local', nLayers: 2, dModel: 16, dFF: 32, maxLen: 32, window: 8 });
const head = new nn.Linear(16, 1);
const opt = new optim.Adam([...model.parameters(), ...head.parameters()], { lr: 3e-3 });

// Train in parallel: predict the running mean of the first input feature.
const [batch, steps] = [8, 32];
const x = randn([batch, steps, 16]);
const counts = arange(1, 33).float().reshape([1, 32, 1]);
const target = x.slice(2, 0, 1).cumsum(1).div(counts);
for (let step = 0; step < 100; step++) {
  tidy(() => {
    opt.zeroGrad();
    const loss = nn.mseLoss(head.forward(model.forward(x)), target);
    loss.backward();
    opt.step();
    if (step % 25 === 0) console.log(`step ${step}: loss ${loss.item().toFixed(4)}`);
  });
}

// Then stream, one token at a time: the state is the scan triple (m, u, w) and the last 7 tokens'
// keys and values per layer, whatever the number of tokens seen.
model.eval();
const parallel = noGrad(() => head.forward(model.forward(x)));
// A Stream owns the state and frees each one as soon as the next exists; tidy() frees each
// step's temporaries.
const stream = model.stream(batch);
let maxDiff = 0;
noGrad(() => {
  for (let t = 0; t < steps; t++) {
    tidy(() => {
      const y = head.forward(stream.step(x.slice(1, t, t + 1).squeeze(1)));
      const diff = y
        .sub(parallel.slice(1, t, t + 1).squeeze(1))
        .abs()
        .max()
        .item();
      maxDiff = Math.max(maxDiff, diff);
    });
  }
});
stream.dispose();
console.log(
  `streamed ${steps} tokens; max difference from the parallel forward: ${maxDiff.toExponential(1)}`,
);

// AFT-conv over an image grid [B, H, W, d] (not causal): 4 heads, 3×3 kernels.
const conv = new AftConv2d({ dModel: 16, heads: 4, kernel: 3 });
console.log('AftConv2d output:', conv.forward(randn([2, 8, 8, 16])).shape);
