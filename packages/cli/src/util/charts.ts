/**
 * The figures of `recur demo`, `recur bench stream` and the docs: Vega-Lite specs, rendered to SVG
 * in Node by vega's headless renderer. The docs site renders the same specs in the page.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { StreamPoint, StreamResult } from '../bench/stream.js';

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

/** Renders a Vega-Lite spec to an SVG document (vega is loaded on first use: commands start fast). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [{ parse, View }, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return `${await view.toSVG()}\n`;
  } finally {
    view.finalize();
  }
}

/** `lineChartSpec` rendered to SVG. */
export function lineChart(o: ChartOptions): Promise<string> {
  return renderSvg(lineChartSpec(o));
}

/** One line per streamed model: `value` of each measured point against the tokens seen. */
export function streamSeries(
  streams: readonly { name: string; result: StreamResult }[],
  value: (p: StreamPoint) => number,
): Series[] {
  return streams.map((s) => ({
    name: s.name,
    points: s.result.points.map((p): [number, number] => [p.tokens, value(p)]),
  }));
}

/** The time-per-token figure of streamed models (the demo's and bench stream's). */
export function timePerTokenChart(
  streams: readonly { name: string; result: StreamResult }[],
): Promise<string> {
  return lineChart({
    title: 'Time per token while streaming',
    xLabel: 'tokens seen',
    yLabel: 'ms per token',
    series: streamSeries(streams, (p) => p.stepMs),
    logX: true,
  });
}
