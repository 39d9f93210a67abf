/**
 * `recur reproduce`: the experiment list, end-to-end tiny runs checked against the results.json
 * format the docs' reproduction pages read (apps/docs/scripts/reproduction.ts), results.md, the
 * plot, and resuming: a rerun skips the finished runs and runs only the missing ones.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.js';
import {
  EXPERIMENT_NAMES,
  getExperiment,
  parseExperiment,
  plan,
} from '../src/reproduce/experiment.js';
import { compare, stat } from '../src/reproduce/report.js';
import {
  jsonLines,
  lastJson,
  recur,
  recurAsync,
  recurHere,
  SHARED_DATA,
  tempDir,
} from './helpers.js';

const tmp = tempDir('recur-reproduce-');
afterAll(() => tmp.cleanup());
const hasData = existsSync(SHARED_DATA);
if (!hasData) console.warn(`reproduce tests with data skipped: ${SHARED_DATA} is absent`);

/** Checks a results.json has every field the docs' page and its figure read, with their types. */
function checkResultsFormat(r: Record<string, unknown>): void {
  expect(r.format).toBe('recur-reproduce');
  expect(r.version).toBe(1);
  const exp = r.experiment as Record<string, unknown>;
  expect(typeof exp.title).toBe('string');
  expect(typeof exp.description).toBe('string');
  expect(exp.scale).toBe('tiny');
  expect(Array.isArray(exp.seeds)).toBe(true);
  const metrics = exp.metrics as { name: string; goal: string; label: string }[];
  expect(metrics.length).toBeGreaterThan(0);
  for (const m of metrics) {
    expect(typeof m.name).toBe('string');
    expect(['min', 'max']).toContain(m.goal);
    expect(typeof m.label).toBe('string');
  }
  const env = r.environment as Record<string, unknown>;
  for (const k of ['recur', 'node', 'cpuModel']) expect(typeof env[k], k).toBe('string');
  for (const k of ['cpus', 'loadAverage']) expect(typeof env[k], k).toBe('number');
  expect(Number.isNaN(Date.parse(r.updatedAt as string))).toBe(false);
  expect(r.complete).toBe(true);
  const datasets = r.datasets as Record<string, unknown>[];
  expect(datasets.length).toBeGreaterThan(0);
  for (const d of datasets) {
    expect(typeof d.name).toBe('string');
    const models = d.models as Record<string, unknown>[];
    expect(models.length).toBeGreaterThan(0);
    for (const m of models) {
      expect(typeof m.model).toBe('string');
      expect(typeof m.parameters).toBe('number');
      expect(m.runs).toBe((exp.seeds as number[]).length);
      const ms = m.metrics as Record<
        string,
        { mean: number; std: number | null; values: number[] }
      >;
      for (const metric of metrics) {
        const s = ms[metric.name];
        expect(s, `${d.name} ${m.model} ${metric.name}`).toBeDefined();
        if (!s) continue;
        expect(s.values.length).toBe(m.runs);
        expect(s.mean).toBeCloseTo(s.values.reduce((a, b) => a + b, 0) / s.values.length, 10);
        if (s.values.length === 1) expect(s.std).toBeNull();
      }
      const t = m.trainSeconds as { mean: number; values: number[] };
      expect(t.mean).toBeGreaterThanOrEqual(0);
    }
    for (const c of Object.values(d.comparisons as Record<string, unknown>)) {
      if (c === null) continue;
      const cmp = c as Record<string, unknown>;
      for (const k of ['a', 'b', 'metric']) expect(typeof cmp[k]).toBe('string');
      for (const k of ['aMean', 'bMean', 'relative']) expect(typeof cmp[k]).toBe('number');
      expect(typeof cmp.within).toBe('boolean');
    }
  }
}

describe('recur reproduce --list', () => {
  it('names every experiment with its expected runtime at small scale', async () => {
    const r = await recurHere(['reproduce', '--list']);
    expect(r.code, r.stderr).toBe(0);
    for (const name of [
      'forecast-ett',
      'classify-uea',
      'events',
      'rl-offline',
      'lm-char',
      'image-ar',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^${name} .* ~[\\d.]+ min`, 'm'));
    }
    const json = lastJson((await recurHere(['reproduce', '--list', '--json'])).stdout);
    const rows = json.experiments as { name: string; expectedMinutes: number; units: number }[];
    expect(rows.map((x) => x.name)).toEqual(EXPERIMENT_NAMES);
    for (const row of rows) {
      // The stated time covers at least each run's wall-clock budget where the scale sets one.
      const e = getExperiment(row.name);
      const budget = (e.scales.small.options['max-seconds'] ?? e.scales.small.options.maxSeconds) as
        | number
        | undefined;
      const models = plan(e, 'small', undefined, (x) => x).units.filter(
        (u) => u.model !== 'naive' && u.model !== 'linear',
      ).length;
      if (budget !== undefined) {
        expect(row.expectedMinutes * 60, row.name).toBeGreaterThanOrEqual(models * budget * 0.9);
      }
      expect(row.expectedMinutes, row.name).toBeLessThanOrEqual(35);
    }
  });

  it('an unknown experiment or a missing name is exit 2 naming the known ones', async () => {
    const r = await recurHere(['reproduce', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown experiment 'nope'");
    expect(r.stderr).toContain('forecast-ett');
    expect((await recurHere(['reproduce'])).code).toBe(2);
  });

  it('data that is not there is exit 2 naming the folder and how to give it', async () => {
    const r = await recurHere([
      'reproduce',
      'lm-char',
      '--scale',
      'tiny',
      '--data',
      join(tmp.dir, 'none'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/data not found: .*tinyshakespeare.*--data <dir>/);
  });
});

describe('experiment configurations', () => {
  it('every checked-in experiment passes its schema and has tiny, small and paper scales', async () => {
    for (const name of EXPERIMENT_NAMES) {
      const e = getExperiment(name);
      for (const s of ['tiny', 'small', 'paper'] as const) {
        expect(plan(e, s, undefined, (x) => x).units.length).toBeGreaterThan(0);
      }
    }
  });

  it('a wrong configuration is a CliError naming the place and what was expected', async () => {
    const good = JSON.parse(JSON.stringify(getExperiment('lm-char'))) as Record<string, unknown>;
    const bad = (patch: Record<string, unknown>) => () =>
      parseExperiment({ ...good, ...patch }, 'my.json');
    expect(bad({ models: ['aaren', 'gpt'] })).toThrow(/my\.json: models\.1: unknown model 'gpt'/);
    expect(bad({ options: { 'd-modl': 3 } })).toThrow(/my\.json: options: unknown option 'd-modl'/);
    expect(bad({ options: { epochs: 0 } })).toThrow(
      /option 'epochs': expected a value >= 1, got 0/,
    );
    expect(bad({ kind: 'other' })).toThrow(CliError);
    expect(
      bad({
        comparisons: [
          { name: 'x', a: 'aaren', b: 'transformer', metric: 'mse', tolerance: { relative: 0.05 } },
        ],
      }),
    ).toThrow(/metric 'mse' is not one of the experiment's metrics/);
  });

  it('closed-form forecasters get none of the training options', async () => {
    const e = getExperiment('forecast-ett');
    const units = plan(e, 'small', undefined, (x) => x).units;
    const naive = units.find((u) => u.model === 'naive');
    const aaren = units.find((u) => u.model === 'aaren');
    expect(aaren?.options.epochs).toBe(10);
    expect(naive?.options.epochs).toBeUndefined();
    expect(naive?.options.maxSeconds).toBeUndefined();
    expect(naive?.options.lookback).toBe(96);
  });
});

describe('statistics and comparisons', () => {
  it('mean and sample std, null std for one value', async () => {
    const s = stat([1, 2, 4]);
    expect(s.mean).toBeCloseTo(7 / 3, 12);
    const m = 7 / 3;
    expect(s.std).toBeCloseTo(Math.sqrt(((1 - m) ** 2 + (2 - m) ** 2 + (4 - m) ** 2) / 2), 12);
    expect(stat([5]).std).toBeNull();
  });

  it('within the tolerance: relative for losses, absolute points for scores', async () => {
    const summary = (model: string, metric: string, v: number) => ({
      model,
      runs: 1,
      seeds: [0],
      parameters: 1,
      metrics: { [metric]: stat([v]) },
      trainSeconds: stat([1]),
      tokensPerSecond: null,
      throughput: null,
    });
    const rel = { name: 'c', a: 'a', b: 'b', metric: 'mse', tolerance: { relative: 0.05 } };
    expect(compare(rel, 'min', summary('a', 'mse', 1.04), summary('b', 'mse', 1))?.within).toBe(
      true,
    );
    expect(compare(rel, 'min', summary('a', 'mse', 1.06), summary('b', 'mse', 1))?.within).toBe(
      false,
    );
    const r = compare(rel, 'min', summary('a', 'mse', 0.9), summary('b', 'mse', 1));
    expect(r?.better).toBe('a');
    expect(r?.relative).toBeCloseTo(-0.1, 12);
    const abs = { name: 'c', a: 'a', b: 'b', metric: 'acc', tolerance: { absolute: 1 } };
    expect(compare(abs, 'max', summary('a', 'acc', 79.5), summary('b', 'acc', 80))?.within).toBe(
      true,
    );
    expect(compare(abs, 'max', summary('a', 'acc', 78.9), summary('b', 'acc', 80))?.within).toBe(
      false,
    );
    expect(compare(abs, 'max', summary('a', 'acc', 1), undefined)).toBeNull();
  });
});

describe('recur reproduce end to end (tiny)', () => {
  it('rl-offline: results.json in the docs format, results.md, the plot; a rerun resumes', async () => {
    const out = join(tmp.dir, 'rl');
    const first = await recurHere([
      'reproduce',
      'rl-offline',
      '--scale',
      'tiny',
      '--seeds',
      '2',
      '--out',
      out,
      '--json',
    ]);
    expect(first.code, first.stderr).toBe(0);
    const units = jsonLines(first.stdout).filter((e) => e.event === 'unit');
    expect(units.length).toBe(4); // 1 data set × 2 backbones × 2 seeds
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    checkResultsFormat(results);
    const aaren = results.datasets[0].models.find((m: { model: string }) => m.model === 'aaren');
    expect(aaren.metrics.normalisedReturn.values.length).toBe(2);
    expect(aaren.metrics.envStepsPerSecond.mean).toBeGreaterThan(0);
    // The comparison is computed from the means it shows.
    const cmp = results.datasets[0].comparisons.aarenVsTransformer;
    const transformer = results.datasets[0].models.find(
      (m: { model: string }) => m.model === 'transformer',
    );
    expect(cmp.aMean).toBe(aaren.metrics.normalisedReturn.mean);
    expect(cmp.bMean).toBe(transformer.metrics.normalisedReturn.mean);
    expect(cmp.within).toBe(cmp.aMean >= cmp.bMean - 1);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('## cartpole-medium');
    expect(md).toMatch(/\| aaren \| \d+ \| -?[\d.]+ ± [\d.]+ \|/);
    const svg = readFileSync(join(out, 'results.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('normalised return');

    // A finished experiment run again does nothing but rewrite its files.
    const again = await recurHere([
      'reproduce',
      'rl-offline',
      '--scale',
      'tiny',
      '--seeds',
      '2',
      '--out',
      out,
      '--json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(jsonLines(again.stdout).filter((e) => e.event === 'unit')).toEqual([]);
    expect(jsonLines(again.stdout)[0]).toMatchObject({ event: 'start', units: 4, finished: 4 });

    // One run's result lost (a kill before it was saved): only that run is done again, and it
    // gives the same numbers (seeded).
    const lost = join(out, 'units', 'cartpole-medium', 'transformer', 'seed-1.json');
    const before = JSON.parse(readFileSync(lost, 'utf8'));
    rmSync(lost);
    const resumed = await recurHere([
      'reproduce',
      'rl-offline',
      '--scale',
      'tiny',
      '--seeds',
      '2',
      '--out',
      out,
      '--json',
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const redone = jsonLines(resumed.stdout).filter((e) => e.event === 'unit');
    expect(redone.map((e) => [e.model, e.seed])).toEqual([['transformer', 1]]);
    const after = JSON.parse(readFileSync(lost, 'utf8'));
    expect(after.metrics.normalisedReturn).toBe(before.metrics.normalisedReturn);
    expect(after.metrics.finalLoss).toBe(before.metrics.finalLoss);
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).complete).toBe(true);

    // A saved run whose settings differ from the experiment's is run again.
    const stale = join(out, 'units', 'cartpole-medium', 'aaren', 'seed-0.json');
    const saved = JSON.parse(readFileSync(stale, 'utf8'));
    writeFileSync(
      stale,
      JSON.stringify({ ...saved, options: { ...saved.options, trainSteps: 999 } }),
    );
    const rerun = await recurHere([
      'reproduce',
      'rl-offline',
      '--scale',
      'tiny',
      '--seeds',
      '2',
      '--out',
      out,
      '--json',
    ]);
    expect(
      jsonLines(rerun.stdout)
        .filter((e) => e.event === 'unit')
        .map((e) => [e.model, e.seed]),
    ).toEqual([['aaren', 0]]);
  });

  it.skipIf(!hasData)(
    'forecast-ett: killed mid-run, it resumes; every model incl. naive and linear',
    async () => {
      const out = join(tmp.dir, 'forecast');
      const args = [
        'reproduce',
        'forecast-ett',
        '--scale',
        'tiny',
        '--data',
        SHARED_DATA,
        '--out',
        out,
        '--json',
      ];
      // Killed (SIGKILL: no chance to clean up) once two runs have finished.
      const seen: string[] = [];
      const killed = await recurAsync(args, (line, child) => {
        const e = JSON.parse(line) as Record<string, unknown>;
        if (e.event === 'unit') {
          seen.push(e.model as string);
          if (seen.length === 2) child.kill('SIGKILL');
        }
      });
      expect(killed.code).not.toBe(0);
      expect(seen.slice(0, 2)).toEqual(['aaren', 'transformer']);
      const r = recur(args);
      expect(r.code, r.stderr).toBe(0);
      const events = jsonLines(r.stdout);
      expect(events[0]).toMatchObject({ event: 'start', units: 6 });
      const finished = events[0]?.finished as number;
      expect(finished).toBeGreaterThanOrEqual(2);
      const redone = events.filter((e) => e.event === 'unit').map((e) => e.model);
      expect(redone).not.toContain('aaren');
      expect(redone).not.toContain('transformer');
      expect(redone.length).toBe(6 - finished);
      const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      checkResultsFormat(results);
      const models = results.datasets[0].models as {
        model: string;
        metrics: Record<string, { mean: number }>;
        parameters: number;
      }[];
      expect(models.map((m) => m.model)).toEqual([
        'aaren',
        'transformer',
        'lstm',
        'aft-simple',
        'linear',
        'naive',
      ]);
      // The closed-form baselines reproduce the data README's reference numbers for ETTh1, H = 96.
      const by = (name: string) => models.find((m) => m.model === name) as (typeof models)[number];
      expect(by('naive').metrics.mse?.mean).toBeCloseTo(1.2944, 3);
      expect(by('linear').metrics.mse?.mean).toBeCloseTo(0.3815, 3);
      expect(by('linear').parameters).toBe(96 * 96 + 96);
      expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain(
        '| naive | 0 | 1.294 | 0.713 |',
      );

      // Drop the last two runs' results and their run folders: a rerun trains only those.
      for (const m of ['linear', 'naive']) {
        rmSync(join(out, 'units', 'ETTh1-H96', m, 'seed-0.json'));
        rmSync(join(out, 'units', 'ETTh1-H96', m, 'seed-0'), { recursive: true });
      }
      const again = recur([
        'reproduce',
        'forecast-ett',
        '--scale',
        'tiny',
        '--data',
        SHARED_DATA,
        '--out',
        out,
        '--json',
      ]);
      expect(again.code, again.stderr).toBe(0);
      expect(
        jsonLines(again.stdout)
          .filter((e) => e.event === 'unit')
          .map((e) => e.model),
      ).toEqual(['linear', 'naive']);
    },
  );

  it.skipIf(!hasData)(
    'events: the models and the Poisson and mark-frequency baselines beside them',
    async () => {
      const out = join(tmp.dir, 'events');
      const r = await recurHere([
        'reproduce',
        'events',
        '--scale',
        'tiny',
        '--data',
        SHARED_DATA,
        '--out',
        out,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      checkResultsFormat(results);
      for (const d of results.datasets) {
        const base = d.models.map(
          (m: { metrics: Record<string, { mean: number }> }) => m.metrics.nll_poisson?.mean,
        );
        // The baseline is fitted on the data, not the model: the same for every model.
        expect(new Set(base).size).toBe(1);
        expect(Number.isFinite(base[0])).toBe(true);
      }
    },
  );
});
