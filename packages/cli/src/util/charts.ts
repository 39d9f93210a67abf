/**
 * The figures of `recur demo`, `recur bench stream` and `recur reproduce` rendered to SVG in Node by
 * vega's headless renderer. Their Vega-Lite specs come from ../charts.ts (the `@recur/cli/charts`
 * subpath, free of Node imports), which the docs site renders in the page.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  type ChartOptions,
  lineChartSpec,
  type StreamedModel,
  timePerTokenSpec,
} from '../charts.js';

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

/** The time-per-token figure of streamed models (the demo's and bench stream's), as SVG. */
export function timePerTokenChart(streams: readonly StreamedModel[]): Promise<string> {
  return renderSvg(timePerTokenSpec(streams));
}
