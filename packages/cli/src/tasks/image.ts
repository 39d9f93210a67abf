/**
 * The image-ar task (AFT's headline experiment): images as sequences of sub-pixels in raster order
 * (row by row, R G B per pixel), each predicted from the ones before it by a 256-way softmax;
 * the metric is bits per dimension (the mean negative log2-likelihood of a sub-pixel).
 */
import { basename } from 'node:path';
import { Generator, nn, type Tensor, tensor } from '@recur/tensor';
import { evenlySpaced, locateImagePack, readImages } from '../data/images.js';
import { CliError } from '../errors.js';
import { type BackboneConfig, backboneConfig } from '../models/backbone.js';
import { LanguageNet } from '../models/nets.js';
import { TASK_INFO } from './catalog.js';
import { chunk, evalBatches, evalBatchSize, permutation, readBatch } from './common.js';
import type { Metrics, NeuralTask, TaskDef } from './types.js';

export interface ImageTaskConfig {
  /** Side of the (downscaled) images. */
  size: number;
  /** Colour channels per pixel (3: RGB). */
  channels: number;
}

/** Input token of the first position (no sub-pixel before it). */
export const START = 256;

/** Sub-pixels of an image: its sequence length. */
export function imageLength(cfg: ImageTaskConfig): number {
  return cfg.size * cfg.size * cfg.channels;
}

/** Inputs [B, L] (the start token, then every sub-pixel but the last) and targets [B·L]. */
export function imageBatch(images: readonly Uint8Array[], len: number): { x: Tensor; y: Tensor } {
  const b = images.length;
  const x = new Int32Array(b * len);
  const y = new Int32Array(b * len);
  images.forEach((img, i) => {
    x[i * len] = START;
    for (let k = 0; k < len; k++) {
      y[i * len + k] = img[k]!;
      if (k + 1 < len) x[i * len + k + 1] = img[k]!;
    }
  });
  return {
    x: tensor(x, { shape: [b, len], dtype: 'int32' }),
    y: tensor(y, { shape: [b * len], dtype: 'int32' }),
  };
}

export function createImageTask(
  model: BackboneConfig,
  cfg: ImageTaskConfig,
  sets: { train: Uint8Array[]; val: Uint8Array[]; test: Uint8Array[] },
  batchSize: number,
  describe: string[],
): NeuralTask<Uint8Array[]> {
  // 257 input tokens (256 values and the start), 256 outputs.
  const net = new LanguageNet(model, START + 1, 256);
  const len = imageLength(cfg);
  const evaluate = async (images: Uint8Array[], limit?: number): Promise<Metrics> => {
    if (images.length === 0) return {};
    let nats = 0;
    let count = 0;
    // Sequences are long: evaluation batches hold a quarter of the usual count.
    for (const idx of evalBatches(
      images.length,
      Math.max(1, Math.floor(evalBatchSize(batchSize) / 4)),
      limit,
    )) {
      const batch = idx.map((i) => images[i]!);
      const out = await readBatch(() => {
        const { x, y } = imageBatch(batch, len);
        const logits = net.forward(x).reshape([batch.length * len, 256]);
        return { nats: nn.crossEntropy(logits, y, { reduction: 'sum' }) };
      });
      nats += out.nats[0]!;
      count += batch.length * len;
    }
    return { bpd: nats / count / Math.LN2, loss: nats / count };
  };
  return {
    net,
    monitor: TASK_INFO['image-ar'].monitor,
    unit: 'subpixels',
    trainBatches: (rng: Generator) =>
      chunk(
        permutation(sets.train.length, rng).map((i) => sets.train[i]!),
        batchSize,
      ),
    items: (b) => b.length * len,
    loss: (batch) => {
      const { x, y } = imageBatch(batch, len);
      return nn.crossEntropy(net.forward(x).reshape([batch.length * len, 256]), y);
    },
    validate: (limit) => evaluate(sets.val, limit),
    test: (limit) => evaluate(sets.test, limit),
    describe: () => describe,
  };
}

/**
 * The image-ar task: JPEG packs (train and test) downscaled to `size`; a validation share of the
 * training images is held out. The config holds the size.
 */
export const imageTask: TaskDef<ImageTaskConfig> = {
  ...TASK_INFO['image-ar'],
  prepare({ model: name, data, options: o }) {
    const pack = locateImagePack(data);
    const size = o.imageSize;
    const train = readImages(pack.train, size, (n) => evenlySpaced(n, o.maxImages));
    const test = readImages(pack.test, size, (n) =>
      evenlySpaced(
        n,
        o.maxImages === undefined ? undefined : Math.max(1, Math.ceil(o.maxImages / 5)),
      ),
    );
    const order = permutation(train.images.length, new Generator(o.seed));
    const nVal = Math.round(train.images.length * o.valFraction);
    const val = order.slice(0, nVal).map((i) => train.images[i]!);
    const tr = order.slice(nVal).map((i) => train.images[i]!);
    if (tr.length === 0)
      throw new CliError(`--data ${data}: no training images left after the validation share`);
    const taskConfig: ImageTaskConfig = { size, channels: 3 };
    const model = backboneConfig(name, o, imageLength(taskConfig));
    const describe = [
      `data ${basename(pack.train.bin)}, ${basename(pack.test.bin)}: ${size}×${size}×3 = ${imageLength(taskConfig)} sub-pixels per image in raster order; images train ${tr.length}, val ${val.length} (of ${train.available}), test ${test.images.length} (of ${test.available})`,
    ];
    const splits = { train: tr, val, test: test.images };
    return {
      model,
      taskConfig: { ...taskConfig },
      neural: createImageTask(model, taskConfig, splits, o.batchSize, describe),
    };
  },
  restore({ config: cfg, data, batchSize, backbone }) {
    const pack = locateImagePack(data);
    const test = readImages(pack.test, cfg.size, (n) => evenlySpaced(n));
    const describe = [`data ${basename(pack.test.bin)}: test ${test.images.length} images`];
    const splits = { train: [], val: [], test: test.images };
    return { neural: createImageTask(backbone(), cfg, splits, batchSize, describe) };
  },
};
