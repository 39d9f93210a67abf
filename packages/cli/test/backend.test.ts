/**
 * `--backend webgpu`: `recur train` is the same run as on the CPU (same weights, same batches), its
 * first epoch's training loss equal to the CPU's to 1e-4, validation computed from the GPU's
 * weights; `recur eval`, `recur demo` and `recur bench stream` give the CPU's numbers. Needs a WebGPU adapter (Mesa's llvmpipe on machines without a GPU, EGL_PLATFORM=
 * surfaceless); skips with a message without one, unless RECUR_REQUIRE_WEBGPU=1.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '@recur/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines, lastJson, lcg, recur, tempDir, writeSeriesCsv } from './helpers.js';

async function probe(): Promise<boolean> {
  try {
    await initBackend('webgpu');
    return true;
  } catch (e) {
    if (process.env.RECUR_REQUIRE_WEBGPU === '1') {
      throw new Error(`RECUR_REQUIRE_WEBGPU=1 but the webgpu backend did not start: ${e}`);
    }
    console.warn(`[recur] skipping recur train --backend webgpu: ${(e as Error).message}`);
    return false;
  }
}
const HAS_WEBGPU = await probe();

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe.skipIf(!HAS_WEBGPU)('recur train --backend webgpu', () => {
  it('matches the CPU run: first-epoch loss to 1e-4, validation, checkpoints', () => {
    const csv = join(tmp.dir, 'series.csv');
    writeSeriesCsv(csv, 200, 2);
    const run = (backend: string) => {
      const out = join(tmp.dir, backend);
      // A tiny Aaren (its scans run on the GPU's kernels), a few steps, gradient clipping on.
      const r = recur([
        'train',
        'forecast',
        '--model',
        'aaren',
        '--data',
        csv,
        '--lookback',
        '16',
        '--horizon',
        '4',
        '--d-model',
        '8',
        '--heads',
        '2',
        '--layers',
        '1',
        '--epochs',
        '2',
        '--steps-per-epoch',
        '4',
        '--batch-size',
        '8',
        '--clip',
        '0.5',
        '--backend',
        backend,
        '--out',
        out,
        '--json',
      ]);
      // Mesa's Vulkan loader, where installed, tells stderr that XDG_RUNTIME_DIR is unset while
      // Dawn probes its adapters: the driver's line, not recur's.
      const said = (r.stderr + r.stdout).replace(/^error: XDG_RUNTIME_DIR is invalid.*$/gm, '');
      expect(said).not.toMatch(/error:/);
      expect(r.code).toBe(0);
      return jsonLines(r.stdout);
    };
    const cpu = run('cpu');
    const gpu = run('webgpu');
    const epochs = (events: Record<string, unknown>[]) =>
      events.filter((e) => e.event === 'epoch') as Record<string, number>[];
    const [c1, c2] = epochs(cpu);
    const [g1, g2] = epochs(gpu);
    expect(Math.abs((g1?.train_loss as number) - (c1?.train_loss as number))).toBeLessThan(1e-4);
    expect(Math.abs((g1?.val_mse as number) - (c1?.val_mse as number))).toBeLessThan(1e-4);
    // The second epoch starts from the GPU's weights and optimiser state: still the same run.
    expect(Math.abs(g2!.train_loss! - c2!.train_loss!)).toBeLessThan(1e-3);
    const result = (events: Record<string, unknown>[]) =>
      events[events.length - 1] as Record<string, number>;
    expect(Math.abs(result(gpu).mse! - result(cpu).mse!)).toBeLessThan(1e-3);
  });

  it('says which adapter runs it', () => {
    const csv = join(tmp.dir, 'small.csv');
    writeSeriesCsv(csv, 120, 1);
    const r = recur([
      'train',
      'forecast',
      '--model',
      'gru',
      '--data',
      csv,
      '--lookback',
      '8',
      '--horizon',
      '2',
      '--d-model',
      '4',
      '--layers',
      '1',
      '--epochs',
      '1',
      '--steps-per-epoch',
      '1',
      '--backend',
      'webgpu',
      '--out',
      join(tmp.dir, 'adapter'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/backend webgpu: .+\(/);
  });

  it('recur eval --backend webgpu: the metrics and sample of the CPU evaluation', () => {
    const text = join(tmp.dir, 'text.txt');
    const words = ['the ', 'cat ', 'sat ', 'on ', 'a ', 'mat.\n'];
    const rand = lcg(3);
    writeFileSync(
      text,
      Array.from({ length: 400 }, () => words[Math.floor(rand() * words.length)]).join(''),
    );
    const run = join(tmp.dir, 'lm');
    const trained = recur([
      'train',
      'lm',
      '--model',
      'aaren',
      '--data',
      text,
      '--context',
      '16',
      '--d-model',
      '8',
      '--heads',
      '2',
      '--layers',
      '1',
      '--epochs',
      '1',
      '--steps-per-epoch',
      '3',
      '--out',
      run,
    ]);
    expect(trained.code, trained.stderr).toBe(0);
    const evaluate = (backend: string) => {
      const r = recur([
        'eval',
        run,
        '--sample',
        '12',
        '--prompt',
        'the ',
        '--backend',
        backend,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const sample = jsonLines(r.stdout).find((e) => e.event === 'sample') as { text: string };
      return {
        result: lastJson(r.stdout) as Record<string, number> & { backend: string },
        sample: sample.text,
      };
    };
    const cpu = evaluate('cpu');
    const gpu = evaluate('webgpu');
    expect(gpu.result.backend).toMatch(/^webgpu: .+\(/);
    expect(Math.abs(gpu.result.bpc! - cpu.result.bpc!)).toBeLessThan(1e-5);
    expect(gpu.sample).toBe(cpu.sample);
    expect(gpu.sample).toHaveLength(16);
  });

  it('recur demo --backend webgpu: losses, accuracies and state sizes as on the CPU', () => {
    const demo = (backend: string) => {
      const r = recur([
        'demo',
        '--steps',
        '4',
        '--tokens',
        '16',
        '--backend',
        backend,
        '--out',
        join(tmp.dir, `demo-${backend}`),
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      return lastJson(r.stdout) as {
        backend: string;
        models: Record<
          string,
          { final_loss: number; step_accuracy: number; stream: { stateBytes: number }[] }
        >;
      };
    };
    const cpu = demo('cpu');
    const gpu = demo('webgpu');
    expect(cpu.backend).toBe('cpu');
    expect(gpu.backend).toMatch(/^webgpu: /);
    for (const name of ['aaren', 'transformer']) {
      const c = cpu.models[name];
      const g = gpu.models[name];
      expect(Math.abs((g?.final_loss as number) - (c?.final_loss as number))).toBeLessThan(1e-4);
      expect(g?.step_accuracy).toBe(c?.step_accuracy);
      expect(g?.stream.map((p) => p.stateBytes)).toEqual(c?.stream.map((p) => p.stateBytes));
    }
  });

  it('recur bench stream --backend webgpu streams every model on the GPU', () => {
    const r = recur([
      'bench',
      'stream',
      '--models',
      'aaren,transformer,lstm',
      '--tokens',
      '16',
      '--d-model',
      '16',
      '--backend',
      'webgpu',
      '--out',
      join(tmp.dir, 'bench'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout) as {
      backend: string;
      models: Record<string, { tokens: number; points: { stepMs: number }[] }>;
    };
    expect(res.backend).toMatch(/^webgpu: .+\(/);
    for (const name of ['aaren', 'transformer', 'lstm']) {
      expect(res.models[name]?.tokens).toBe(16);
      for (const p of res.models[name]?.points ?? []) expect(p.stepMs).toBeGreaterThan(0);
    }
  });
});
