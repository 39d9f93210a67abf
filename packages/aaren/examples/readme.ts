// The README's example, kept here so it is type-checked and run by test/readme.test.ts.
import { Aaren } from '@recur/aaren';
import { arange, manualSeed, nn, noGrad, optim, randn, tidy } from '@recur/tensor';

manualSeed(0);
const model = new Aaren({ nLayers: 2, dModel: 16, nHeads: 4, dFF: 32 });
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

// Then stream, one token at a time, with a state of constant size: the Stream owns the state
// and frees each one as soon as the next exists; tidy() frees each step's temporaries.
model.eval();
const parallel = noGrad(() => head.forward(model.forward(x)));
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
