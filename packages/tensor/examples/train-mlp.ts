// Trains a small MLP with Adam to separate three interleaved spirals, on the CPU, deterministically.
// Run with `pnpm demo` (from the repository root or this package).
import { Generator, manualSeed, memory, nn, optim, type Tensor, tensor, tidy } from '@recur/tensor';

const SEED = 0;
const CLASSES = 3;
const PER_CLASS = 200;
const HIDDEN = 64;
const STEPS = 600;
const LOG_EVERY = 50;

/** Three spiral arms in the plane, one per class, with a little noise. */
function spirals(
  perClass: number,
  classes: number,
  generator: Generator,
): { x: Tensor; y: Tensor } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      const r = i / perClass;
      const angle = (2 * Math.PI * c) / classes + 4 * r + 0.2 * generator.nextNormal();
      xs.push(r * Math.sin(angle), r * Math.cos(angle));
      ys.push(c);
    }
  }
  return { x: tensor(xs, { shape: [classes * perClass, 2] }), y: tensor(ys, { dtype: 'int32' }) };
}

class MLP extends nn.Module {
  net: nn.Sequential;
  constructor(hidden: number, classes: number) {
    super();
    this.net = new nn.Sequential(
      new nn.Linear(2, hidden),
      new nn.GELU(),
      new nn.Linear(hidden, hidden),
      new nn.GELU(),
      new nn.Linear(hidden, classes),
    );
  }
  override forward(x: Tensor): Tensor {
    return this.net.forward(x);
  }
}

manualSeed(SEED);
const { x, y } = spirals(PER_CLASS, CLASSES, new Generator(SEED + 1));
const test = spirals(PER_CLASS, CLASSES, new Generator(SEED + 2)); // fresh noise: held-out points
const model = new MLP(HIDDEN, CLASSES);
const opt = new optim.AdamW(model.parameters(), { lr: 1e-2, weightDecay: 1e-4 });
const schedule = new optim.LinearWarmupCosine(opt, {
  warmupSteps: 30,
  totalSteps: STEPS,
  minLr: 1e-4,
});

console.log(`${model}`);
console.log(
  `${model.numParameters()} parameters; ${CLASSES * PER_CLASS} points in ${CLASSES} spirals\n`,
);

const accuracy = (inputs: Tensor, labels: Tensor): number =>
  tidy(() => model.forward(inputs).argmax(1).eq(labels).float().mean().item());

const start = performance.now();
let loss = Number.NaN;
for (let step = 1; step <= STEPS; step++) {
  loss = tidy(() => {
    opt.zeroGrad();
    const l = nn.crossEntropy(model.forward(x), y);
    l.backward();
    return l.item();
  });
  optim.clipGradNorm(model.parameters(), 1.0);
  opt.step();
  schedule.step();
  if (step % LOG_EVERY === 0 || step === 1) {
    const lr = schedule.getLastLr()[0] as number;
    console.log(
      `step ${String(step).padStart(4)}  loss ${loss.toFixed(4)}  lr ${lr.toExponential(2)}`,
    );
  }
}
const seconds = (performance.now() - start) / 1000;
model.eval();
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const testLoss = tidy(() => nn.crossEntropy(model.forward(test.x), test.y).item());
console.log(`\nfinal training loss ${loss.toFixed(4)}, accuracy ${pct(accuracy(x, y))}`);
console.log(`held-out loss ${testLoss.toFixed(4)}, accuracy ${pct(accuracy(test.x, test.y))}`);
console.log(`${STEPS} steps in ${seconds.toFixed(1)} s; live tensors ${memory().cpu?.tensors}`);
