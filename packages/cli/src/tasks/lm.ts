import { basename } from 'node:path';
import { type Generator, nn, Generator as Rng, type Tensor, tensor } from '@recur/tensor';
import { CliError, DataError } from '../errors.js';
import { type BackboneConfig, backboneConfig } from '../models/backbone.js';
import { LanguageNet } from '../models/nets.js';
import { readUserFile } from '../util/files.js';
import { TASK_INFO } from './catalog.js';
import { chunk, evalBatchSize, readBatch } from './common.js';
import type { Metrics, NeuralTask, TaskDef } from './types.js';

export interface LmTaskConfig {
  /** The characters the model knows, in id order. */
  vocab: string[];
  context: number;
}

export interface TextData {
  file: string;
  /** Character ids of the whole file. */
  ids: Int32Array;
  /** First id of the validation part (the last 10 %: its first half picks the checkpoint). */
  valStart: number;
  /** First id of the held-out test part (the last 5 %: never seen while training or selecting). */
  testStart: number;
}

/** The vocabulary of a text: its distinct characters (code points), sorted. */
export function buildVocab(text: string): string[] {
  return [...new Set(Array.from(text))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The file's text, which must be UTF-8: invalid bytes (a binary file, Latin-1) and NUL characters
 * (UTF-16, binary) are refused with the line they are on, rather than learned as characters.
 */
function decodeUtf8(file: string, bytes: Buffer): string {
  const lineOf = (offset: number) => {
    let line = 1;
    for (let i = 0; i < offset; i++) if (bytes[i] === 10) line++;
    return line;
  };
  const bom16 =
    bytes.length >= 2 &&
    ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
  const nul = bytes.indexOf(0);
  if (bom16 || nul >= 0) {
    throw new DataError(
      file,
      bom16 ? 1 : lineOf(nul),
      `${bom16 ? 'a UTF-16 byte-order mark' : 'a NUL byte'}: the lm task reads UTF-8 text, and this looks like UTF-16 or a binary file; convert it to UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)`,
    );
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // The first invalid sequence, for the message: the longest prefix that decodes as a stream
    // ends inside it (or just before it); its start is where the longest whole prefix ends.
    const decodes = (end: number, stream: boolean) => {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, end), { stream });
        return true;
      } catch {
        return false;
      }
    };
    let lo = 0;
    let hi = bytes.length;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (decodes(mid, true)) lo = mid;
      else hi = mid;
    }
    while (lo > 0 && !decodes(lo, false)) lo--;
    throw new DataError(
      file,
      lineOf(lo),
      `not valid UTF-8 (byte ${lo}); the lm task reads UTF-8 text: convert the file (e.g. iconv -f LATIN1 -t UTF-8)`,
    );
  }
}

/**
 * Reads a text file as ids of `vocab` (built from the file when not given). Split by position: the
 * first 90 % trains, the next 5 % validates (picks the best epoch), the last 5 % is the test.
 */
export function loadText(
  file: string,
  vocab?: readonly string[],
): { data: TextData; vocab: string[] } {
  const text = decodeUtf8(file, readUserFile(file, '--data'));
  const chars = Array.from(text);
  if (chars.length < 4)
    throw new DataError(
      file,
      undefined,
      `too short for a language model (${chars.length} characters)`,
    );
  const v = vocab ? [...vocab] : buildVocab(text);
  const index = new Map(v.map((c, i) => [c, i]));
  const ids = new Int32Array(chars.length);
  let line = 1;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    const id = index.get(ch);
    if (id === undefined) {
      throw new DataError(
        file,
        line,
        `character ${JSON.stringify(ch)} is not in the model's vocabulary of ${v.length}`,
      );
    }
    ids[i] = id;
    if (ch === '\n') line++;
  }
  return {
    data: {
      file,
      ids,
      valStart: Math.floor(chars.length * 0.9),
      testStart: Math.floor(chars.length * 0.95),
    },
    vocab: v,
  };
}

/** Input and target ids of windows of `len + 1` characters starting at `starts`. */
function windows(
  ids: Int32Array,
  starts: readonly number[],
  len: number,
): { x: Tensor; y: Tensor } {
  const b = starts.length;
  const x = new Int32Array(b * len);
  const y = new Int32Array(b * len);
  starts.forEach((s, i) => {
    x.set(ids.subarray(s, s + len), i * len);
    y.set(ids.subarray(s + 1, s + len + 1), i * len);
  });
  return {
    x: tensor(x, { shape: [b, len], dtype: 'int32' }),
    y: tensor(y, { shape: [b * len], dtype: 'int32' }),
  };
}

/** The validation and test parts of the text, each refused if too short to score. */
function heldOutParts(data: TextData): { val: Int32Array; test: Int32Array } {
  const val = data.ids.subarray(data.valStart, data.testStart);
  const test = data.ids.subarray(data.testStart);
  for (const [part, ids, share] of [
    ['validation', val, '90–95 %'],
    ['test', test, 'the last 5 %'],
  ] as const) {
    if (ids.length < 2) {
      throw new CliError(
        `${data.file}: the ${part} part (${share}) has ${ids.length} character(s), too few to score (at least 2); use a longer text`,
      );
    }
  }
  return { val, test };
}

/**
 * Bits per character over a part of the text (`v` characters in the vocabulary), in chunks of `t`
 * targets (every character once); at most `limit` batches of chunks.
 */
async function evaluateText(
  net: LanguageNet,
  v: number,
  part: Int32Array,
  t: number,
  batchSize: number,
  limit?: number,
): Promise<Metrics> {
  const n = part.length - 1;
  const starts: number[] = [];
  for (let s = 0; s + t <= n; s += t) starts.push(s);
  const rest = n - starts.length * t;
  let batches = chunk(starts, evalBatchSize(batchSize));
  if (limit !== undefined) batches = batches.slice(0, limit);
  let nats = 0;
  let count = 0;
  const run = async (st: number[], len: number) => {
    const out = await readBatch(() => {
      const { x, y } = windows(part, st, len);
      const logits = net.forward(x).reshape([st.length * len, v]);
      return { nats: nn.crossEntropy(logits, y, { reduction: 'sum' }) };
    });
    nats += out.nats[0]!;
    count += st.length * len;
  };
  for (const b of batches) await run(b, t);
  // The short tail is scored in full runs, and whenever no full chunk was (a short validation part).
  if (rest > 0 && (limit === undefined || batches.length === 0)) {
    await run([starts.length * t], rest);
  }
  return { bpc: nats / count / Math.LN2, loss: nats / count };
}

export function createLmTask(
  model: BackboneConfig,
  cfg: LmTaskConfig,
  data: TextData,
  batchSize: number,
  stepsPerEpoch: number,
): NeuralTask<number[]> {
  const v = cfg.vocab.length;
  const net = new LanguageNet(model, v);
  const t = cfg.context;
  const trainEnd = data.valStart;
  if (trainEnd < t + 2) {
    throw new CliError(`--context ${t}: longer than the training text (${trainEnd} characters)`);
  }
  const { val, test } = heldOutParts(data);
  return {
    net,
    monitor: TASK_INFO.lm.monitor,
    unit: 'chars',
    trainBatches: (rng: Generator) =>
      Array.from({ length: stepsPerEpoch }, () =>
        Array.from({ length: batchSize }, () => rng.nextInt(0, trainEnd - t - 1)),
      ),
    items: (b) => b.length * t,
    loss: (starts) => {
      const { x, y } = windows(data.ids, starts, t);
      return nn.crossEntropy(net.forward(x).reshape([starts.length * t, v]), y);
    },
    validate: (limit) => evaluateText(net, v, val, t, batchSize, limit),
    test: (limit) => evaluateText(net, v, test, t, batchSize, limit),
    describe: () => [
      `data ${basename(data.file)}: ${data.ids.length.toLocaleString('en-US')} characters, ${v} distinct; train ${trainEnd.toLocaleString('en-US')}, validation ${val.length.toLocaleString('en-US')}, test ${test.length.toLocaleString('en-US')}`,
    ],
    after: async (options) =>
      options.sample === undefined
        ? undefined
        : sampleText(
            net,
            model,
            cfg,
            options.sample,
            options.prompt ?? '\n',
            options.temperature,
            new Rng(options.seed ?? 0),
          ),
  };
}

/** The ids of a prompt's characters; one outside the vocabulary is an error naming it. */
export function promptIdsOf(vocab: readonly string[], prompt: string): number[] {
  const index = new Map(vocab.map((c, i) => [c, i]));
  const ids = Array.from(prompt).map((ch) => {
    const id = index.get(ch);
    if (id === undefined) {
      throw new CliError(
        `--prompt: character ${JSON.stringify(ch)} is not in the model's vocabulary (the ${vocab.length} characters of the training text)`,
      );
    }
    return id;
  });
  if (ids.length === 0) throw new CliError('--prompt: must not be empty');
  return ids;
}

/**
 * Streams the prompt through the model one character at a time, then samples `count` more. Reads each
 * step's scores asynchronously, so it runs on any backend.
 */
export async function sampleText(
  net: LanguageNet,
  model: BackboneConfig,
  cfg: LmTaskConfig,
  count: number,
  prompt: string,
  temperature: number,
  rng: Generator,
): Promise<string> {
  const promptIds = promptIdsOf(cfg.vocab, prompt);
  const limited = model.name === 'aft-full' || model.name === 'aft-local';
  const total = limited
    ? Math.min(promptIds.length + count, model.maxLen)
    : promptIds.length + count;
  net.eval();
  // The stream frees each state as the next one replaces it: memory stays flat however long.
  const stream = net.backbone.stream(1);
  const feed = async (id: number): Promise<Float32Array> => {
    const out = await readBatch(() => ({
      logits: net.head.forward(stream.step(net.emb.forward(tensor([id], { dtype: 'int32' })))),
    }));
    return out.logits as Float32Array;
  };
  try {
    let logits: Float32Array = new Float32Array(0);
    for (const id of promptIds) logits = await feed(id);
    const out: string[] = [];
    for (let k = promptIds.length; k < total; k++) {
      let max = -Infinity;
      for (const z of logits) max = Math.max(max, z / temperature);
      const p = Array.from(logits, (z) => Math.exp(z / temperature - max));
      const sum = p.reduce((a, b) => a + b, 0);
      let u = rng.nextFloat() * sum;
      let id = 0;
      while (id < p.length - 1 && u >= p[id]!) u -= p[id++]!;
      out.push(cfg.vocab[id]!);
      logits = await feed(id);
    }
    return prompt + out.join('');
  } finally {
    stream.dispose();
  }
}

/** The lm task: a text file's characters; the config holds the vocabulary and the context. */
export const lmTask: TaskDef<LmTaskConfig> = {
  ...TASK_INFO.lm,
  prepare({ model: name, data, options: o }) {
    const { data: text, vocab } = loadText(data);
    // A bad --prompt is reported now, not after training.
    if (o.prompt !== undefined) promptIdsOf(vocab, o.prompt);
    const taskConfig: LmTaskConfig = { vocab, context: o.context };
    const model = backboneConfig(name, o, o.context);
    return {
      model,
      taskConfig: { ...taskConfig },
      neural: createLmTask(model, taskConfig, text, o.batchSize, o.stepsPerEpoch ?? 200),
    };
  },
  restore({ config: cfg, data, options: o, batchSize, backbone }) {
    const { data: text } = loadText(data, cfg.vocab);
    if (o.prompt !== undefined) promptIdsOf(cfg.vocab, o.prompt);
    return { neural: createLmTask(backbone(), cfg, text, batchSize, 1) };
  },
};
