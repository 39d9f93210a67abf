// The README's example, kept here so it is type-checked and run by test/readme.test.ts.
import { Aaren } from '@recur/aaren';
import { arange, manualSeed, nn, noGrad, optim, randn, tidy } from '@recur/tensor';

manualSeed(0);
const model = new Aaren({ nLayers: 2, dModel: 16, nHeads: 4, dFF: 32 });
const head = new nn.Linear(16, 1);
const opt = new optim.Adam([...model.parameters(), ...head.parameters()], { lr: 3e-3 });

// Train in parallel: predict the running mean of the first input feature.
const x = randn([8, 32, 16]);
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

// Then stream, one token at a time, with a state of constant size.
model.eval();
const parallel = noGrad(() => head.forward(model.forward(x)));
let state = model.initState(8);
let maxDiff = 0;
noGrad(() => {
  for (let t = 0; t < 32; t++) {
    const { y, state: next } = model.step(x.slice(1, t, t + 1).squeeze(1), state);
    state = next;
    const diff = head
      .forward(y)
      .sub(parallel.slice(1, t, t + 1).squeeze(1))
      .abs()
      .max()
      .item();
    maxDiff = Math.max(maxDiff, diff);
  }
});
console.log(
  `streamed 32 tokens; max difference from the parallel forward: ${maxDiff.toExponential(1)}`,
);
