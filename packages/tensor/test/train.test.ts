import { describe, expect, it } from 'vitest';
import {
  Generator,
  manualSeed,
  memory,
  nn,
  optim,
  type Tensor,
  tensor,
  tidy,
} from '../src/index.js';

/** Two classes: points inside a ring of radius 0.5 vs outside it (not linearly separable). */
function rings(n: number, seed: number): { x: Tensor; y: Tensor } {
  const g = new Generator(seed);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = g.nextFloat() * 2 * Math.PI;
    const inner = i % 2 === 0;
    const r = inner ? 0.35 * g.nextFloat() : 0.65 + 0.35 * g.nextFloat();
    xs.push(r * Math.cos(a), r * Math.sin(a));
    ys.push(inner ? 0 : 1);
  }
  return { x: tensor(xs, { shape: [n, 2] }), y: tensor(ys, { dtype: 'int32' }) };
}

class MLP extends nn.Module {
  fc1: nn.Linear;
  fc2: nn.Linear;
  constructor(hidden: number) {
    super();
    this.fc1 = new nn.Linear(2, hidden);
    this.fc2 = new nn.Linear(hidden, 2);
  }
  override forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(x).tanh());
  }
}

interface Run {
  losses: number[];
  accuracy: number;
}

function train(seed: number, steps: number): Run {
  manualSeed(seed);
  const { x, y } = rings(128, seed + 1);
  const model = new MLP(16);
  const opt = new optim.Adam(model.parameters(), { lr: 0.05 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    losses.push(
      tidy(() => {
        opt.zeroGrad();
        const loss = nn.crossEntropy(model.forward(x), y);
        loss.backward();
        return loss.item();
      }),
    );
    opt.step();
  }
  const accuracy = tidy(() => model.forward(x).argmax(1).eq(y).float().mean().item());
  return { losses, accuracy };
}

describe('training a 2-layer MLP', () => {
  it('reaches a low loss with Adam', () => {
    const { losses, accuracy } = train(0, 200);
    expect(losses[0]).toBeGreaterThan(0.5);
    expect(losses[losses.length - 1]).toBeLessThan(0.05);
    expect(accuracy).toBeGreaterThanOrEqual(0.99);
  });

  it('is bit-identical for the same seed and differs for another', () => {
    const a = train(7, 40);
    const b = train(7, 40);
    expect(b.losses).toEqual(a.losses);
    const c = train(8, 40);
    expect(c.losses).not.toEqual(a.losses);
  });

  it('keeps the live tensor count flat over 200 optimiser steps', () => {
    manualSeed(3);
    const { x, y } = rings(64, 4);
    const model = new nn.Sequential(
      new nn.Linear(2, 16),
      new nn.GELU(),
      new nn.Dropout(0.1),
      new nn.Linear(16, 2),
    );
    const opt = new optim.AdamW(model.parameters(), { lr: 0.01, amsgrad: true });
    const schedule = new optim.LinearWarmupCosine(opt, { warmupSteps: 10, totalSteps: 220 });
    const step = () => {
      tidy(() => {
        opt.zeroGrad();
        const loss = nn.crossEntropy(model.forward(x), y, { labelSmoothing: 0.1 });
        loss.backward();
      });
      optim.clipGradNorm(model.parameters(), 1);
      opt.step();
      schedule.step();
    };
    for (let i = 0; i < 5; i++) step(); // state allocated
    const before = memory().cpu as { tensors: number; bytes: number };
    for (let i = 0; i < 200; i++) step();
    const after = memory().cpu as { tensors: number; bytes: number };
    expect(after.tensors - before.tensors).toBeLessThanOrEqual(2);
    expect(after.bytes - before.bytes).toBeLessThanOrEqual(1024);
  });
});
