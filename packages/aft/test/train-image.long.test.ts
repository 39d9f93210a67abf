import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, manualSeed, nn, noGrad, optim, type Tensor, tensor, tidy } from '@recur/tensor';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { Aft } from '../src/index.js';

const DATA = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../shared/data/cifar10_jpeg',
);
const present = existsSync(path.join(DATA, 'cifar10_jpeg_train_index.csv'));
if (!present) console.warn(`SKIPPED the CIFAR-10 AFT-conv2d training test: ${DATA} is absent`);

const CLASSES = ['automobile', 'frog'];
const PATCH = 4; // 32×32 → an 8×8 grid of 4×4×3 patches
const GRID = 32 / PATCH;
const PATCH_DIM = PATCH * PATCH * 3;

/** The first `perClass` images of each class in `split`, as patch grids [N, 8, 8, 48] in [−1, 1]. */
function load(split: 'train' | 'test', perClass: number): { x: Tensor; y: Int32Array } {
  const bin = readFileSync(path.join(DATA, `cifar10_jpeg_${split}.bin`));
  const rows = readFileSync(path.join(DATA, `cifar10_jpeg_${split}_index.csv`), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(','));
  const picked: { offset: number; length: number; label: number }[] = [];
  CLASSES.forEach((name, label) => {
    const mine = rows.filter((r) => r[3] === name).slice(0, perClass);
    expect(mine.length, `${split} images of class ${name}`).toBe(perClass);
    for (const r of mine) picked.push({ offset: Number(r[0]), length: Number(r[1]), label });
  });
  const x = new Float32Array(picked.length * GRID * GRID * PATCH_DIM);
  const y = new Int32Array(picked.length);
  picked.forEach((p, n) => {
    const img = jpeg.decode(bin.subarray(p.offset, p.offset + p.length), {
      useTArray: true,
      formatAsRGBA: false,
    });
    expect([img.width, img.height]).toEqual([32, 32]);
    y[n] = p.label;
    for (let i = 0; i < 32; i++) {
      for (let j = 0; j < 32; j++) {
        const cell =
          ((n * GRID + Math.floor(i / PATCH)) * GRID + Math.floor(j / PATCH)) * PATCH_DIM;
        const inPatch = ((i % PATCH) * PATCH + (j % PATCH)) * 3;
        for (let c = 0; c < 3; c++)
          x[cell + inPatch + c] = (img.data[(i * 32 + j) * 3 + c] as number) / 127.5 - 1;
      }
    }
  });
  return { x: tensor(x, { shape: [picked.length, GRID, GRID, PATCH_DIM] }), y };
}

class Classifier extends nn.Module {
  embed = new nn.Linear(PATCH_DIM, 32);
  body = new Aft({ variant: 'conv2d', nLayers: 2, dModel: 32, heads: 4, kernel: 3, dFF: 64 });
  head = new nn.Linear(32, CLASSES.length);
  override forward(x: Tensor): Tensor {
    return this.head.forward(this.body.forward(this.embed.forward(x)).mean([1, 2]));
  }
}

/**
 * Synthetic, always available: 8×8 single-channel images holding one bright bar, horizontal or
 * vertical, in noise. Each pixel is one token, so the two classes have the same bag of pixel values:
 * a model blind to where tokens are (AFT-simple, which AFT-conv is at initialisation: γ = β = 0)
 * cannot beat chance; the learned 3×3 kernels have to find the bars' orientation.
 */
function bars(g: Generator, n: number): { x: Tensor; y: Int32Array } {
  const x = new Float32Array(n * 64);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 64; p++) x[i * 64 + p] = 0.3 * g.nextNormal();
    const vertical = g.nextInt(0, 2);
    y[i] = vertical;
    const line = g.nextInt(0, 8);
    const from = g.nextInt(0, 4);
    for (let k = from; k < from + 5; k++) {
      const [r, c] = vertical ? [k, line] : [line, k];
      x[i * 64 + r * 8 + c] = (x[i * 64 + r * 8 + c] as number) + 1.5;
    }
  }
  return { x: tensor(x, { shape: [n, 8, 8, 1] }), y };
}

class BarClassifier extends nn.Module {
  embed = new nn.Linear(1, 16);
  body = new Aft({ variant: 'conv2d', nLayers: 1, dModel: 16, heads: 4, kernel: 3, dFF: 32 });
  head = new nn.Linear(16, 2);
  override forward(x: Tensor): Tensor {
    return this.head.forward(this.body.forward(this.embed.forward(x)).mean([1, 2]));
  }
}

describe('a 2-d AFT-conv model on a synthetic spatial task', () => {
  it('learns the orientation of bars (chance 50 %, position-blind models stay there)', () => {
    const start = performance.now();
    manualSeed(0);
    const g = new Generator(2);
    const model = new BarClassifier();
    const accuracy = (data: { x: Tensor; y: Int32Array }) => {
      const pred = noGrad(() => model.forward(data.x).argmax(-1)).dataSync();
      return data.y.reduce((a, v, i) => a + (pred[i] === v ? 1 : 0), 0) / data.y.length;
    };
    const test = bars(new Generator(3), 400);
    const before = accuracy(test);
    const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
    for (let step = 0; step < 200; step++) {
      tidy(() => {
        const { x, y } = bars(g, 32);
        opt.zeroGrad();
        nn.crossEntropy(model.forward(x), tensor(y)).backward();
        opt.step();
      });
    }
    const acc = accuracy(test);
    console.log(
      `AFT-conv2d, bar orientation: test accuracy ${(100 * acc).toFixed(1)} % (${(100 * before).toFixed(1)} % before training; chance 50 %) in ${((performance.now() - start) / 1000).toFixed(1)} s`,
    );
    expect(acc).toBeGreaterThanOrEqual(0.9);
    // It got there through the kernels: they left their initial 0.
    const aft = model.body.layers[0]?.attn as { kernel(): Tensor };
    expect(aft.kernel().abs().max().item()).toBeGreaterThan(0.5);
  }, 300_000);
});

describe.skipIf(!present)(
  `a 2-d AFT-conv model on CIFAR-10 images${present ? '' : ` (SKIPPED: ${DATA} is absent)`}`,
  () => {
    it(`tells ${CLASSES.join(' from ')} apart well above chance after a short run`, () => {
      const start = performance.now();
      const train = load('train', 300);
      const test = load('test', 200);
      const loaded = performance.now();
      manualSeed(0);
      const model = new Classifier();
      const opt = new optim.Adam(model.parameters(), { lr: 3e-3 });
      const g = new Generator(1);
      const n = train.y.length;
      const epochs = 6;
      for (let epoch = 0; epoch < epochs; epoch++) {
        const order = Array.from({ length: n }, (_, i) => i);
        for (let i = n - 1; i > 0; i--) {
          const j = g.nextInt(0, i + 1);
          [order[i], order[j]] = [order[j] as number, order[i] as number];
        }
        for (let b = 0; b < n; b += 32) {
          tidy(() => {
            const idx = tensor(order.slice(b, b + 32), { dtype: 'int32' });
            const x = train.x.indexSelect(0, idx);
            const y = tensor(Int32Array.from(order.slice(b, b + 32), (i) => train.y[i] as number));
            opt.zeroGrad();
            nn.crossEntropy(model.forward(x), y).backward();
            opt.step();
          });
        }
      }
      const trained = performance.now();
      model.eval();
      const pred = noGrad(() => model.forward(test.x).argmax(-1)).dataSync();
      let hits = 0;
      test.y.forEach((v, i) => {
        if (pred[i] === v) hits++;
      });
      const acc = hits / test.y.length;
      console.log(
        `AFT-conv2d, ${CLASSES.join(' vs ')}: test accuracy ${(100 * acc).toFixed(1)} % on ${test.y.length} images (chance 50 %); ${n} training images, ${epochs} epochs; load ${((loaded - start) / 1000).toFixed(1)} s, train ${((trained - loaded) / 1000).toFixed(1)} s`,
      );
      expect(acc).toBeGreaterThanOrEqual(0.8);
    }, 300_000);
  },
);
