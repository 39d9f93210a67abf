/**
 * The figures' Vega-Lite specs, shared by the CLI and the docs: `recur demo`, `recur bench stream`
 * and `recur reproduce` render them to SVG in Node (`renderSvg` of the main entry point), and the
 * docs site renders the same specs in the page with vega. This module imports nothing at run time
 * (no Node built-ins, no vega), so a browser bundle can take it: `import { lineChartSpec } from
 * '@recur/cli/charts'`.
 *
 * @packageDocumentation
 * @module @recur/cli/charts
 */
import type { TopLevelSpec } from 'vega-lite';

/** One line of a chart: its legend name and its (x, y) points. */
export interface Series {
  name: string;
  points: [number, number][];
}

/**
 * What {@link lineChartSpec} draws: title, axis labels, the series, log scales (off by default) and
 * the size in pixels (default 520 × 320).
 */
export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
}

/**
 * A line chart with one line (and its points) per series, in the series' order. Points a log axis
 * cannot show (≤ 0) and non-finite ones are left out. Ticks use SI prefixes (1k, 100k, 1M).
 */
export function lineChartSpec(o: ChartOptions): TopLevelSpec {
  const values = o.series.flatMap((s) =>
    s.points
      .filter(
        ([x, y]) =>
          Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0),
      )
      .map(([x, y]) => ({ series: s.name, x, y })),
  );
  const axis = (title: string) => ({ title, format: '~s', labelFlush: false });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: o.title,
    width: o.width ?? 520,
    height: o.height ?? 320,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: values.length <= 200, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        scale: o.logX ? { type: 'log' } : { zero: false },
        axis: axis(o.xLabel),
      },
      y: {
        field: 'y',
        type: 'quantitative',
        scale: o.logY ? { type: 'log' } : {},
        axis: axis(o.yLabel),
      },
      color: {
        field: 'series',
        type: 'nominal',
        sort: o.series.map((s) => s.name),
        legend: { title: null },
      },
    },
  };
}

/**
 * The fields of a streamed point that the stream figures draw: the tokens seen so far, the time per
 * token (ms) and the bytes the state holds. `StreamPoint` (what `measureStream` reports, and what
 * demo.json's `stream` and stream.json's `points` hold) has them all.
 */
export interface StreamSample {
  tokens: number;
  stepMs: number;
  stateBytes: number;
}

/** A streamed model as the stream figures read it: its name and its measured points, in order. */
export interface StreamedModel<P extends { tokens: number } = StreamSample> {
  name: string;
  result: { points: readonly P[] };
}

/** One line per streamed model: `value` of each measured point against the tokens seen. */
export function streamSeries<P extends { tokens: number }>(
  streams: readonly StreamedModel<P>[],
  value: (p: P) => number,
): Series[] {
  return streams.map((s) => ({
    name: s.name,
    points: s.result.points.map((p): [number, number] => [p.tokens, value(p)]),
  }));
}

/**
 * The state-memory figure of streamed models (the demo's, bench stream's and the docs' Fig. 5):
 * bytes of state (or KV cache) against the tokens seen, both axes logarithmic.
 */
export function streamMemorySpec(
  streams: readonly StreamedModel[],
  title = 'State while streaming',
): TopLevelSpec {
  return lineChartSpec({
    title,
    xLabel: 'tokens seen',
    yLabel: 'bytes (state / KV cache)',
    series: streamSeries(streams, (p) => p.stateBytes),
    logX: true,
    logY: true,
  });
}

/**
 * The time-per-token figure of streamed models (the demo's, bench stream's and the docs' Fig. 5):
 * milliseconds per token against the tokens seen, tokens on a log axis.
 */
export function timePerTokenSpec(streams: readonly StreamedModel[]): TopLevelSpec {
  return lineChartSpec({
    title: 'Time per token while streaming',
    xLabel: 'tokens seen',
    yLabel: 'ms per token',
    series: streamSeries(streams, (p) => p.stepMs),
    logX: true,
  });
}

/**
 * What {@link resultsSpec} reads of a `recur reproduce` results.json (the CLI's `Results` has it
 * all): the experiment's title, scale, models and metrics, and each data set's models with each
 * metric's mean and per-seed values.
 */
export interface ResultsFigureData {
  experiment: {
    title: string;
    scale: string;
    models: string[];
    metrics: { name: string; label: string; goal: 'min' | 'max' }[];
  };
  datasets: {
    name: string;
    models: { model: string; metrics: Record<string, { mean: number; values: number[] }> }[];
  }[];
}

/**
 * The results figure of `recur reproduce` (results.svg, and the docs' reproduction pages): the
 * first metric per data set (x) and model (colour), each seed a dot, the mean a tick.
 */
export function resultsSpec(r: ResultsFigureData): TopLevelSpec {
  const metric = r.experiment.metrics[0];
  const values = r.datasets.flatMap((d) =>
    d.models.flatMap((m) => {
      const s = metric ? m.metrics[metric.name] : undefined;
      return s
        ? s.values.map((v) => ({ dataset: d.name, model: m.model, value: v, mean: s.mean }))
        : [];
    }),
  );
  const label = metric
    ? `${metric.label} (${metric.goal === 'min' ? 'lower' : 'higher'} is better)`
    : '';
  const encoding = {
    x: { field: 'dataset', type: 'nominal', title: null, sort: r.datasets.map((d) => d.name) },
    xOffset: { field: 'model', type: 'nominal', sort: r.experiment.models },
    color: { field: 'model', type: 'nominal', sort: r.experiment.models, legend: { title: null } },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${r.experiment.title} (${r.experiment.scale})`,
    width: Math.max(320, 60 * r.datasets.length * Math.max(1, r.experiment.models.length) * 0.5),
    height: 300,
    background: 'white',
    data: { values },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 40, opacity: 0.6 },
        encoding: {
          ...encoding,
          y: { field: 'value', type: 'quantitative', title: label, scale: { zero: false } },
        },
      },
      {
        mark: { type: 'tick', thickness: 2, size: 14 },
        encoding: { ...encoding, y: { field: 'mean', type: 'quantitative', title: label } },
      },
    ],
  } as TopLevelSpec;
}
