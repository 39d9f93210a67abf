// The README's example, kept here so the type checker and `pnpm test` (test/readme.test.ts) run it.
import { manualSeed, nn, optim, randn, tidy } from '@recur/tensor';

manualSeed(0);
// y = sin(3x) from 256 points, fitted by a small MLP.
const x = randn([256, 1]);
const y = x.mul(3).sin();
const model = new nn.Sequential(new nn.Linear(1, 32), new nn.Tanh(), new nn.Linear(32, 1));
const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
for (let step = 0; step <= 500; step++) {
  const loss = tidy(() => {
    opt.zeroGrad();
    const l = nn.mseLoss(model.forward(x), y);
    l.backward();
    opt.step();
    return l;
  });
  if (step % 100 === 0) console.log(step, loss.item().toFixed(4));
}
