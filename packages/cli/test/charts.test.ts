/**
 * The figures' specs (src/charts.ts, the `@recur/cli/charts` subpath): what they plot, checked
 * against the input written out by hand, and that the module can go into a browser bundle.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  lineChartSpec,
  type ResultsFigureData,
  resultsSpec,
  streamMemorySpec,
  timePerTokenSpec,
} from '../src/charts.js';
import { renderSvg } from '../src/util/charts.js';

const values = (spec: object) => (spec as { data: { values: unknown[] } }).data.values;

const streams = [
  {
    name: 'aaren',
    result: {
      points: [
        { tokens: 1, stepMs: 0.5, stateBytes: 96 },
        { tokens: 2, stepMs: 0.25, stateBytes: 96 },
      ],
    },
  },
  {
    name: 'transformer',
    result: {
      points: [
        { tokens: 1, stepMs: 0.75, stateBytes: 64 },
        { tokens: 2, stepMs: Number.NaN, stateBytes: 128 },
      ],
    },
  },
];

describe('chart specs', () => {
  it('has no run-time imports (a browser bundle takes it without Node built-ins or vega)', () => {
    const source = readFileSync(new URL('../src/charts.ts', import.meta.url), 'utf8');
    const imports = source.match(/^import\s.*$/gm) ?? [];
    expect(imports.length).toBeGreaterThan(0);
    for (const line of imports) expect(line).toMatch(/^import type /);
    expect(source).not.toMatch(/\bimport\(/);
    expect(source).not.toMatch(/\brequire\(/);
  });

  it("streamMemorySpec plots each model's state bytes against tokens seen, both axes log", () => {
    const spec = streamMemorySpec(streams) as unknown as {
      title: string;
      encoding: { x: { scale: unknown }; y: { scale: unknown } };
    };
    expect(spec.title).toBe('State while streaming');
    expect(spec.encoding.x.scale).toEqual({ type: 'log' });
    expect(spec.encoding.y.scale).toEqual({ type: 'log' });
    expect(values(spec)).toEqual([
      { series: 'aaren', x: 1, y: 96 },
      { series: 'aaren', x: 2, y: 96 },
      { series: 'transformer', x: 1, y: 64 },
      { series: 'transformer', x: 2, y: 128 },
    ]);
    expect((streamMemorySpec(streams, 'Other') as { title?: unknown }).title).toBe('Other');
  });

  it('timePerTokenSpec plots ms per token and leaves out non-finite points', () => {
    expect(values(timePerTokenSpec(streams))).toEqual([
      { series: 'aaren', x: 1, y: 0.5 },
      { series: 'aaren', x: 2, y: 0.25 },
      { series: 'transformer', x: 1, y: 0.75 },
    ]);
  });

  it('lineChartSpec leaves out points a log axis cannot show', () => {
    const spec = lineChartSpec({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        {
          name: 'a',
          points: [
            [0, 1],
            [1, 0],
            [2, 3],
            [-1, 2],
          ],
        },
      ],
      logX: true,
      logY: true,
    });
    expect(values(spec)).toEqual([{ series: 'a', x: 2, y: 3 }]);
  });

  it('resultsSpec plots every seed of the first metric, with its mean, per data set and model', async () => {
    const r: ResultsFigureData = {
      experiment: {
        title: 'Exp',
        scale: 'small',
        models: ['a', 'b'],
        metrics: [
          { name: 'mse', label: 'MSE', goal: 'min' },
          { name: 'mae', label: 'MAE', goal: 'min' },
        ],
      },
      datasets: [
        {
          name: 'd1',
          models: [
            {
              model: 'a',
              metrics: { mse: { mean: 2, values: [1, 3] }, mae: { mean: 9, values: [9] } },
            },
            { model: 'b', metrics: { mae: { mean: 1, values: [1] } } },
          ],
        },
      ],
    };
    const spec = resultsSpec(r);
    expect((spec as { title?: unknown }).title).toBe('Exp (small)');
    expect(values(spec)).toEqual([
      { dataset: 'd1', model: 'a', value: 1, mean: 2 },
      { dataset: 'd1', model: 'a', value: 3, mean: 2 },
    ]);
    const svg = await renderSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('MSE (lower is better)');
  });
});
