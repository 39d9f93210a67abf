/**
 * `recur export` and `--runtime onnx`: a run trained on the shared data exports, onnxruntime-node
 * reproduces its test metrics, and bad input is refused with one line, exit 2, nothing written.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, recur, recurHere, SHARED_DATA, tempDir } from './helpers.js';

const ETTH1 = join(SHARED_DATA, 'ETT', 'ETTh1.csv');
const VOWELS = join(SHARED_DATA, 'UEA', 'JapaneseVowels');
const present = existsSync(ETTH1) && existsSync(VOWELS);
if (!present) {
  console.warn(`[recur cli tests] SKIPPED the ONNX run tests: ${SHARED_DATA} is absent`);
}

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Trains briefly, exports, and evaluates with both runtimes; returns both metric records. */
async function roundTrip(task: string, model: string, data: string, extra: string[]) {
  const run = join(tmp.dir, `${task}-${model}`);
  const train = await recurHere([
    'train',
    task,
    '--model',
    model,
    '--data',
    data,
    '--epochs',
    '1',
    '--steps-per-epoch',
    '5',
    '--d-model',
    '16',
    '--layers',
    '1',
    '--heads',
    '2',
    '--out',
    run,
    '--json',
    ...extra,
  ]);
  expect(train.code, train.stderr).toBe(0);
  const exp = await recurHere(['export', run, '--json']);
  expect(exp.code, exp.stderr).toBe(0);
  expect(readdirSync(join(run, 'onnx')).sort()).toEqual([
    'model.onnx',
    'recur-onnx.json',
    'step.onnx',
  ]);
  const viaRecur = await recurHere(['eval', run, '--data', data, '--json']);
  const viaOnnx = await recurHere([
    'eval',
    run,
    '--data',
    data,
    '--runtime',
    'onnx',
    '--threads',
    '2',
    '--json',
  ]);
  expect(viaRecur.code, viaRecur.stderr).toBe(0);
  expect(viaOnnx.code, viaOnnx.stderr).toBe(0);
  return { run, recur: lastJson(viaRecur.stdout), onnx: lastJson(viaOnnx.stdout) };
}

describe.skipIf(!present)('recur export and eval --runtime onnx on the shared data', () => {
  it('an ETTh1 forecaster (aaren, sinusoidal positions): the same mse and mae to 4 decimals', async () => {
    const r = await roundTrip('forecast', 'aaren', ETTH1, ['--lookback', '48', '--horizon', '24']);
    expect(r.onnx.runtime).toBe('onnx');
    for (const k of ['mse', 'mae']) {
      expect((r.onnx[k] as number).toFixed(4), k).toBe((r.recur[k] as number).toFixed(4));
    }
  }, 120_000);

  it('a JapaneseVowels classifier (transformer): the same accuracy and loss to 4 decimals', async () => {
    const r = await roundTrip('classify', 'transformer', VOWELS, []);
    for (const k of ['accuracy', 'loss']) {
      expect((r.onnx[k] as number).toFixed(4), k).toBe((r.recur[k] as number).toFixed(4));
    }
    const manifest = JSON.parse(readFileSync(join(r.run, 'onnx', 'recur-onnx.json'), 'utf8'));
    expect(manifest.stateKeys).toEqual([
      'pos',
      'core.layers.0.k',
      'core.layers.0.v',
      'core.layers.0.length',
    ]);
  }, 120_000);
});

describe('bad input to export and --runtime onnx', () => {
  /** A real run folder: an Aaren forecaster trained for two steps on a small synthetic CSV. */
  async function tinyRun(
    name: string,
    model = 'aaren',
    lookback = 8,
    dModel = 8,
  ): Promise<{ run: string; csv: string }> {
    const csv = join(tmp.dir, 'tiny.csv');
    const rows = ['date,a,b'];
    for (let i = 0; i < 240; i++)
      rows.push(`2020-01-01 ${i},${Math.sin(i / 5)},${Math.cos(i / 7)}`);
    writeFileSync(csv, `${rows.join('\n')}\n`);
    const run = join(tmp.dir, name);
    const r = await recurHere([
      'train',
      'forecast',
      '--model',
      model,
      '--data',
      csv,
      '--epochs',
      '1',
      '--steps-per-epoch',
      '2',
      '--lookback',
      String(lookback),
      '--horizon',
      '2',
      '--d-model',
      String(dModel),
      '--layers',
      '1',
      '--out',
      run,
    ]);
    expect(r.code, r.stderr).toBe(0);
    return { run, csv };
  }

  it('a run folder without weights: one line naming the file, exit 2, nothing written', async () => {
    const { run } = await tinyRun('no-weights');
    rmSync(join(run, 'model.safetensors'));
    const r = await recurHere(['export', run]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/model\.safetensors: no such file/);
    expect(existsSync(join(run, 'onnx'))).toBe(false);
  });

  it('a corrupted model.onnx: one line naming it, exit 2 (the built bin)', async () => {
    const { run, csv } = await tinyRun('corrupt');
    expect(recur(['export', run]).code).toBe(0);
    const bad = join(run, 'onnx', 'model.onnx');
    writeFileSync(bad, 'not a protobuf at all');
    const r = recur(['eval', run, '--data', csv, '--runtime', 'onnx']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${bad}: not a loadable ONNX model`);
    // The intact file evaluates.
    expect(recur(['export', run]).code).toBe(0);
    expect(recur(['eval', run, '--data', csv, '--runtime', 'onnx']).code).toBe(0);
  });

  it.each(['lstm', 'gru', 'aft-full'])(
    'a %s run (forward unrolled over the tokens) exports whole and evaluates the same in onnxruntime',
    async (model) => {
      // AFT-full's position biases cover the lookback: at least the 14 tokens the export traces.
      const { run, csv } = await tinyRun(`${model}-run`, model, model === 'aft-full' ? 16 : 8);
      const exp = await recurHere(['export', run, '--json']);
      expect(exp.code, exp.stderr).toBe(0);
      expect(readdirSync(join(run, 'onnx')).sort()).toEqual([
        'model.onnx',
        'recur-onnx.json',
        'step.onnx',
      ]);
      const viaRecur = await recurHere(['eval', run, '--data', csv, '--json']);
      const viaOnnx = await recurHere(['eval', run, '--data', csv, '--runtime', 'onnx', '--json']);
      expect(viaRecur.code, viaRecur.stderr).toBe(0);
      expect(viaOnnx.code, viaOnnx.stderr).toBe(0);
      const [a, b] = [lastJson(viaRecur.stdout), lastJson(viaOnnx.stdout)];
      expect(b.runtime).toBe('onnx');
      for (const k of ['mse', 'mae']) {
        expect(typeof a[k], k).toBe('number');
        expect((b[k] as number).toFixed(4), k).toBe((a[k] as number).toFixed(4));
      }
    },
    60_000,
  );

  it('an aft-full run whose biases cover fewer tokens than the export traces: why, exit 2', async () => {
    const { run } = await tinyRun('aft-full-short', 'aft-full', 8);
    const r = await recurHere(['export', run]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/covers at most maxLen = 8 tokens, and the export traces up to 14/);
    expect(existsSync(join(run, 'onnx'))).toBe(false);
  });

  it('--external-data: weights in side files beside the graphs; eval --runtime onnx loads them', async () => {
    const { run, csv } = await tinyRun('external', 'aaren', 8, 16); // 16×16 weights: 1 KiB, the cut-off
    const exp = await recurHere(['export', run, '--external-data']);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stdout).toContain('with model.onnx.data');
    const dir = join(run, 'onnx');
    expect(readdirSync(dir).sort()).toEqual([
      'model.onnx',
      'model.onnx.data',
      'recur-onnx.json',
      'step.onnx',
      'step.onnx.data',
    ]);
    const manifest = JSON.parse(readFileSync(join(dir, 'recur-onnx.json'), 'utf8'));
    expect(manifest.files.model.externalData).toBe('model.onnx.data');
    expect(manifest.files.step.externalData).toBe('step.onnx.data');
    const a = await recurHere(['eval', run, '--data', csv, '--json']);
    const b = await recurHere(['eval', run, '--data', csv, '--runtime', 'onnx', '--json']);
    expect(b.code, b.stderr).toBe(0);
    for (const k of ['mse', 'mae']) {
      expect((lastJson(b.stdout)[k] as number).toFixed(4)).toBe(
        (lastJson(a.stdout)[k] as number).toFixed(4),
      );
    }
    // Without its side file the model does not load: one line naming it, exit 2.
    rmSync(join(dir, 'model.onnx.data'));
    const c = await recurHere(['eval', run, '--data', csv, '--runtime', 'onnx']);
    expect(c.code).toBe(2);
    expect(c.stderr.trim().split('\n')).toHaveLength(1);
    expect(c.stderr).toContain(`${join(dir, 'model.onnx')}: not a loadable ONNX model`);
    // A plain export afterwards writes the weights inline and removes the stale side files.
    expect((await recurHere(['export', run])).code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'recur-onnx.json', 'step.onnx']);
  }, 60_000);

  it('a folder that is not a run', async () => {
    const r = await recurHere(['export', tmp.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a run folder/);
  });
});

describe('positions as tensor ops (what lets an exported graph compute them at any position)', () => {
  it('equal the float64 sinusoid table, in a block and streamed from an offset', async () => {
    const { Backbone, sinusoid } = await import('../src/models/backbone.js');
    const { manualSeed, noGrad, randn, tensor } = await import('@recur/tensor');
    manualSeed(7);
    const d = 6;
    const b = new Backbone({
      name: 'lstm',
      layers: 1,
      dModel: d,
      heads: 1,
      dFF: 12,
      window: 3,
      posDim: 4,
      maxLen: 64,
      dropout: 0,
      positions: true,
    });
    const x = randn([1, 40, d]);
    const got = noGrad(() => b.forward(x)).dataSync();
    const table = tensor(sinusoid(0, 40, d), { shape: [1, 40, d] });
    const want = noGrad(() => b.core.forward(x.add(table))).dataSync();
    for (let i = 0; i < want.length; i++)
      expect(Math.abs((got[i] as number) - (want[i] as number))).toBeLessThan(1e-5);
    // A stream that starts at position 37 sees the table's rows from 37 on.
    const s = b.initState(1);
    s.pos = tensor([37]);
    const step = noGrad(() => b.run(x.slice(1, 0, 3), s));
    const shifted = tensor(sinusoid(37, 3, d), { shape: [1, 3, d] });
    const ref = noGrad(() => b.core.run(x.slice(1, 0, 3).add(shifted), b.core.initState(1)));
    const [g, w] = [step.y.dataSync(), ref.y.dataSync()];
    for (let i = 0; i < w.length; i++)
      expect(Math.abs((g[i] as number) - (w[i] as number))).toBeLessThan(1e-5);
  });
});

describe('bench stream --runtime onnx', () => {
  it('streams each model in recur and in onnxruntime, side by side, with the same state sizes', async () => {
    const out = join(tmp.dir, 'bench');
    const r = await recurHere([
      'bench',
      'stream',
      '--models',
      'aaren,transformer,lstm,gru,aft-full',
      '--tokens',
      '64',
      '--d-model',
      '16',
      '--layers',
      '1',
      '--heads',
      '2',
      '--runtime',
      'onnx',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const models = lastJson(r.stdout).models as Record<
      string,
      { tokens: number; points: { stateBytes: number }[] }
    >;
    for (const name of ['aaren', 'transformer', 'lstm', 'gru', 'aft-full']) {
      const a = models[name];
      const b = models[`${name} (onnx)`];
      expect(b?.tokens, name).toBe(64);
      expect(b?.points.map((p) => p.stateBytes)).toEqual(a?.points.map((p) => p.stateBytes));
    }
  }, 120_000);
});
