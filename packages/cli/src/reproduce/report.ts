/**
 * The files of a `recur reproduce` experiment: results.json (format 'recur-reproduce', version 1,
 * the one the docs' reproduction pages read; packages/cli/README.md documents it), results.md (the
 * tables) and results.svg (the first metric per data set and model, every seed's value).
 */
import { cpus, loadavg } from 'node:os';
import { resultsSpec } from '../charts.js';
import { renderSvg } from '../util/charts.js';
import { VERSION } from '../version.js';
import type { Comparison, Experiment, Plan } from './experiment.js';
import type { UnitResult } from './units.js';

/** Mean, sample standard deviation (null for one value) and the values, in seed order. */
export interface Stat {
  mean: number;
  std: number | null;
  values: number[];
}

export function stat(values: number[]): Stat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : null;
  return { mean, std, values };
}

export interface ModelSummary {
  model: string;
  /** Seeds that finished. */
  runs: number;
  seeds: number[];
  parameters: number;
  metrics: Record<string, Stat>;
  trainSeconds: Stat;
  /** Tokens per second while training (null where the task's items are not tokens). */
  tokensPerSecond: Stat | null;
  throughput: (Stat & { unit: string }) | null;
}

export interface ComparisonResult {
  metric: string;
  goal: 'min' | 'max';
  a: string;
  b: string;
  aMean: number;
  bMean: number;
  difference: number;
  /** (aMean − bMean) / |bMean|. */
  relative: number;
  better: 'a' | 'b' | 'tie';
  /** a is better than b, or worse by no more than the tolerance. */
  within: boolean;
  tolerance: Comparison['tolerance'];
}

export interface Failure {
  dataset: string;
  model: string;
  seed: number;
  message: string;
}

export interface Results {
  format: 'recur-reproduce';
  version: 1;
  experiment: Omit<Experiment, 'scales' | 'datasets' | 'options' | 'modelOptions'> & {
    scale: string;
    seeds: number[];
    models: string[];
    options: Record<string, unknown>;
    modelOptions: Record<string, unknown>;
    expectedMinutes: number;
  };
  environment: {
    recur: string;
    node: string;
    platform: string;
    arch: string;
    cpus: number;
    cpuModel: string;
    loadAverage: number;
  };
  command: string;
  updatedAt: string;
  complete: boolean;
  units: { total: number; finished: number };
  failures: Failure[];
  datasets: {
    name: string;
    data: Record<string, unknown>;
    models: ModelSummary[];
    comparisons: Record<string, ComparisonResult | null>;
  }[];
}

/** One comparison of two models' means on a metric, with its tolerance. */
export function compare(
  c: Comparison,
  goal: 'min' | 'max',
  a: ModelSummary | undefined,
  b: ModelSummary | undefined,
): ComparisonResult | null {
  const am = a?.metrics[c.metric]?.mean;
  const bm = b?.metrics[c.metric]?.mean;
  if (am === undefined || bm === undefined) return null;
  const difference = am - bm;
  const relative =
    bm === 0
      ? difference === 0
        ? 0
        : Math.sign(difference) * Infinity
      : difference / Math.abs(bm);
  // How much worse a is than b (≤ 0 when a is as good or better), in the tolerance's terms.
  const worse = goal === 'min' ? difference : -difference;
  const within =
    'relative' in c.tolerance
      ? worse <= c.tolerance.relative * Math.abs(bm)
      : worse <= c.tolerance.absolute;
  return {
    metric: c.metric,
    goal,
    a: c.a,
    b: c.b,
    aMean: am,
    bMean: bm,
    difference,
    relative,
    better: worse < 0 ? 'a' : worse > 0 ? 'b' : 'tie',
    within,
    tolerance: c.tolerance,
  };
}

/** One model's summary over its finished seeds: metrics finite in every run, timings, throughput. */
function summariseModel(model: string, runs: UnitResult[]): ModelSummary {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].filter((k) =>
    runs.every((r) => Number.isFinite(r.metrics[k])),
  );
  const throughputs = runs.map((r) => r.throughput);
  const allThroughputs = throughputs.every((t) => t !== null) ? throughputs : null;
  const tokensPerSecond = runs.map((r) => r.tokensPerSecond);
  return {
    model,
    runs: runs.length,
    seeds: runs.map((r) => r.seed),
    parameters: runs[0]?.parameters ?? 0,
    metrics: Object.fromEntries(names.map((k) => [k, stat(runs.map((r) => r.metrics[k]!))])),
    trainSeconds: stat(runs.map((r) => r.trainSeconds)),
    tokensPerSecond: tokensPerSecond.every((t) => t !== null) ? stat(tokensPerSecond) : null,
    throughput: allThroughputs?.[0]
      ? { unit: allThroughputs[0].unit, ...stat(allThroughputs.map((t) => t.perSecond)) }
      : null,
  };
}

/** One data set's part of results.json: each model with finished runs, and the comparisons. */
function datasetResults(
  p: Plan,
  d: Plan['datasets'][number],
  finished: Map<string, UnitResult>,
  unitKey: (d: string, m: string, s: number) => string,
): Results['datasets'][number] {
  const e = p.experiment;
  const models: ModelSummary[] = [];
  for (const model of p.models) {
    const runs = p.seeds
      .map((s) => finished.get(unitKey(d.name, model, s)))
      .filter((r): r is UnitResult => r !== undefined);
    if (runs.length > 0) models.push(summariseModel(model, runs));
  }
  const comparisons: Record<string, ComparisonResult | null> = {};
  for (const c of e.comparisons) {
    const goal = e.metrics.find((m) => m.name === c.metric)?.goal ?? 'min';
    comparisons[c.name] = compare(
      c,
      goal,
      models.find((m) => m.model === c.a),
      models.find((m) => m.model === c.b),
    );
  }
  return {
    name: d.name,
    data: { ...(d.data ? { path: d.data } : {}), ...d.options },
    models,
    comparisons,
  };
}

/** The machine the results were measured on (results.json's `environment`). */
function environment(): Results['environment'] {
  const cpuList = cpus();
  return {
    recur: VERSION,
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** results.json of a plan from the finished units (those missing make it incomplete). */
export function buildResults(
  p: Plan,
  finished: Map<string, UnitResult>,
  failures: Failure[],
  command: string,
  unitKey: (d: string, m: string, s: number) => string,
): Results {
  const e = p.experiment;
  const sc = e.scales[p.scale];
  return {
    format: 'recur-reproduce',
    version: 1,
    experiment: {
      name: e.name,
      title: e.title,
      description: e.description,
      kind: e.kind,
      task: e.task,
      scale: p.scale,
      seeds: p.seeds,
      metrics: e.metrics,
      comparisons: e.comparisons,
      models: p.models,
      options: { ...e.options, ...sc.options },
      modelOptions: { ...e.modelOptions, ...sc.modelOptions },
      expectedMinutes: sc.expectedMinutes,
    },
    environment: environment(),
    command,
    updatedAt: new Date().toISOString(),
    complete: finished.size === p.units.length && failures.length === 0,
    units: { total: p.units.length, finished: finished.size },
    failures,
    datasets: p.datasets.map((d) => datasetResults(p, d, finished, unitKey)),
  };
}

const fmt = (x: number) =>
  !Number.isFinite(x)
    ? String(x)
    : Math.abs(x) >= 100
      ? x.toFixed(1)
      : Math.abs(x) >= 1
        ? x.toFixed(3)
        : x.toPrecision(3);
const statText = (s: Stat) => (s.std === null ? fmt(s.mean) : `${fmt(s.mean)} ± ${fmt(s.std)}`);

/** The sentence the docs' page writes for a comparison (the same words). */
export function comparisonText(c: ComparisonResult): string {
  const tol =
    'relative' in c.tolerance
      ? `${(100 * c.tolerance.relative).toFixed(0)} %`
      : `${c.tolerance.absolute} point${c.tolerance.absolute === 1 ? '' : 's'}`;
  return `${c.a} against ${c.b} on ${c.metric}: ${fmt(c.aMean)} vs ${fmt(c.bMean)} (${(100 * c.relative).toFixed(1)} %), ${c.within ? `as good or within the tolerance (${tol})` : `worse than the tolerance (${tol}) allows`}.`;
}

/** results.md: a table per data set, the comparisons, and how the numbers were made. */
export function resultsMarkdown(r: Results): string {
  const e = r.experiment;
  const env = r.environment;
  const lines = [
    `# ${e.title}`,
    '',
    e.description,
    '',
    '```sh',
    r.command,
    '```',
    '',
    `Scale \`${e.scale}\`, seeds ${JSON.stringify(e.seeds)}; ${r.units.finished} of ${r.units.total} runs finished${r.complete ? '' : ' (**incomplete**: run the command again to finish)'}. recur ${env.recur}, Node ${env.node}, ${env.cpus} CPUs (${env.cpuModel}), load average ${env.loadAverage}, ${r.updatedAt}. Mean ± sample std over seeds; train s: seconds of training steps; throughput: items per second while training.`,
    '',
  ];
  for (const d of r.datasets) {
    lines.push(`## ${d.name}`, '');
    if (d.models.length === 0) {
      lines.push('No run has finished yet.', '');
      continue;
    }
    lines.push(
      `| model | parameters | ${e.metrics.map((m) => `${m.label} (${m.goal === 'min' ? '↓' : '↑'})`).join(' | ')} | train s | throughput | seeds |`,
      `| --- | ---: | ${e.metrics.map(() => '---:').join(' | ')} | ---: | ---: | ---: |`,
    );
    for (const m of d.models) {
      const cells = e.metrics.map((k) => (m.metrics[k.name] ? statText(m.metrics[k.name]!) : '–'));
      const thr = m.throughput ? `${fmt(m.throughput.mean)} ${m.throughput.unit}/s` : '–';
      lines.push(
        `| ${m.model} | ${m.parameters} | ${cells.join(' | ')} | ${statText(m.trainSeconds)} | ${thr} | ${m.runs} |`,
      );
    }
    const cmp = Object.values(d.comparisons).filter((c): c is ComparisonResult => c !== null);
    if (cmp.length > 0) lines.push('', ...cmp.map(comparisonText));
    lines.push('');
  }
  if (r.failures.length > 0) {
    lines.push('## Failed runs', '');
    for (const f of r.failures)
      lines.push(`- ${f.dataset} · ${f.model} · seed ${f.seed}: ${f.message}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/** results.svg. */
export function resultsSvg(r: Results): Promise<string> {
  return renderSvg(resultsSpec(r));
}
