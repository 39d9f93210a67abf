/**
 * Reproduction pages, generated from the result files `recur` writes (checked in under results/):
 * - results/demo.json (`recur demo`) and results/stream.json (`recur bench stream`): Fig. 5, state
 *   bytes and ms/token against tokens seen;
 * - results/reproduce/*.json (`recur reproduce`'s results.json, format 'recur-reproduce' version 1,
 *   documented in packages/cli/README.md): one table page per experiment.
 * Each page shows the numbers, the command that produced them and where the file came from.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from './cli-reference.js';

/** A result file with the command that wrote it (results/sources.json). */
interface Source {
  command: string;
  note: string;
}

interface StreamPoint {
  tokens: number;
  stepMs: number;
  stateBytes: number;
  cumulativeS: number;
}

/** Reads a JSON file, naming it in the error when it is not what the page needs. */
function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`reproduction pages: cannot read ${file}: ${(e as Error).message}`);
  }
}

function fail(file: string, what: string): never {
  throw new Error(`reproduction pages: ${file}: expected ${what}`);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function streamPoints(file: string, where: string, v: unknown): StreamPoint[] {
  if (!Array.isArray(v) || v.length === 0)
    fail(file, `${where}: a non-empty array of stream points`);
  return v.map((p, i) => {
    if (
      !isObject(p) ||
      typeof p.tokens !== 'number' ||
      typeof p.stepMs !== 'number' ||
      typeof p.stateBytes !== 'number'
    ) {
      fail(
        file,
        `${where}[${i}]: { tokens, stepMs, stateBytes } numbers, got ${JSON.stringify(p)}`,
      );
    }
    return p as unknown as StreamPoint;
  });
}

/** Flat rows (model, tokens, stepMs, stateBytes) from demo.json's or stream.json's models. */
export function streamRows(
  file: string,
): { model: string; tokens: number; stepMs: number; stateBytes: number }[] {
  const json = readJson(file);
  if (!isObject(json) || !isObject(json.models)) fail(file, 'an object with "models"');
  const rows = [];
  for (const [model, m] of Object.entries(json.models)) {
    if (!isObject(m)) fail(file, `models.${model}: an object`);
    const points = streamPoints(file, `models.${model}.stream`, m.stream ?? m.points);
    for (const p of points)
      rows.push({ model, tokens: p.tokens, stepMs: p.stepMs, stateBytes: p.stateBytes });
  }
  return rows;
}

const bytes = (n: number) =>
  n >= 2 ** 20
    ? `${(n / 2 ** 20).toFixed(2)} MiB`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${n} B`;

function sourceOf(sources: Record<string, Source>, name: string): Source {
  const s = sources[name];
  if (!s) throw new Error(`reproduction pages: results/sources.json has no entry for ${name}`);
  return s;
}

function fig5Page(dir: string, sources: Record<string, Source>): Page {
  const lines = [
    '# Fig. 5: memory and time per token while streaming',
    '',
    "The paper's Fig. 5 compares, as tokens stream in one at a time, the memory a model holds and the time each token takes: Aaren keeps a constant state (m, u, w) per head, the Transformer a KV cache that grows with every token. These numbers are the files `recur` wrote; the plots read them as they are. The [live demo](/demos/attention-as-rnn) draws the same figure in your browser.",
    '',
    '<script setup>',
    "import demo from '../results/demo.json';",
    "import stream from '../results/stream.json';",
    '</script>',
    '',
  ];
  for (const [name, title] of [
    ['stream.json', 'recur bench stream'],
    ['demo.json', 'recur demo'],
  ] as const) {
    const file = join(dir, name);
    const rows = streamRows(file);
    const src = sourceOf(sources, name);
    const varName = name.replace('.json', '');
    lines.push(`## ${title}`, '', '```sh', src.command, '```', '', src.note, '');
    lines.push(`<StreamFigure :data="${varName}" />`, '');
    const models = [...new Set(rows.map((r) => r.model))];
    const tokens = [...new Set(rows.map((r) => r.tokens))];
    lines.push(
      `| tokens seen | ${models.map((m) => `${m} ms/token | ${m} state`).join(' | ')} |`,
      `| ---: | ${models.map(() => '---: | ---:').join(' | ')} |`,
    );
    for (const t of tokens) {
      const cells = models.map((m) => {
        const r = rows.find((x) => x.model === m && x.tokens === t);
        return r ? `${r.stepMs.toFixed(3)} | ${bytes(r.stateBytes)}` : '– | –';
      });
      lines.push(`| ${t} | ${cells.join(' | ')} |`);
    }
    lines.push('', `<small>File: \`apps/docs/results/${name}\`.</small>`, '');
  }
  return { path: 'reproduce/fig5', title: 'Fig. 5: streaming', markdown: lines.join('\n') };
}

interface Stat {
  mean: number;
  std: number | null;
  values: number[];
}

const fmt = (x: number) =>
  Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(3) : x.toPrecision(3);
const statText = (s: Stat) => (s.std === null ? fmt(s.mean) : `${fmt(s.mean)} ± ${fmt(s.std)}`);

/** One page per `recur reproduce` results.json (format 'recur-reproduce', version 1). */
function reproducePage(file: string, base: string, sources: Record<string, Source>): Page {
  const r = readJson(file);
  if (!isObject(r) || r.format !== 'recur-reproduce' || r.version !== 1) {
    fail(file, "a results.json of `recur reproduce` (format 'recur-reproduce', version 1)");
  }
  const exp = r.experiment;
  if (!isObject(exp) || typeof exp.title !== 'string' || !Array.isArray(exp.metrics)) {
    fail(file, 'experiment: { title, metrics, … }');
  }
  if (!Array.isArray(r.datasets)) fail(file, 'datasets: an array');
  const metrics = exp.metrics as { name: string; goal: 'min' | 'max'; label: string }[];
  const src = sourceOf(sources, `reproduce/${base}.json`);
  const env = isObject(r.environment) ? r.environment : {};
  const lines = [
    `# ${exp.title}`,
    '',
    String(exp.description ?? ''),
    '',
    '```sh',
    src.command,
    '```',
    '',
    src.note,
    '',
    `Scale \`${String(exp.scale)}\`, seeds ${JSON.stringify(exp.seeds)}; ${r.complete ? 'every run finished' : '**not every run has finished**'}. Written by recur ${String(env.recur)} on Node ${String(env.node)}, ${String(env.cpus)} CPUs (${String(env.cpuModel)}), load average ${String(env.loadAverage)}, at ${String(r.updatedAt)}.`,
    '',
    '<script setup>',
    `import results from '../results/reproduce/${base}.json';`,
    '</script>',
    '',
    '<ResultsFigure :results="results" />',
    '',
  ];
  for (const ds of r.datasets as Record<string, unknown>[]) {
    if (!isObject(ds) || !Array.isArray(ds.models)) fail(file, 'datasets[]: { name, models }');
    lines.push(`## ${String(ds.name)}`, '');
    lines.push(
      `| model | parameters | ${metrics.map((m) => `${m.label} (${m.goal === 'min' ? '↓' : '↑'})`).join(' | ')} | train s | seeds |`,
      `| --- | ---: | ${metrics.map(() => '---:').join(' | ')} | ---: | ---: |`,
    );
    for (const m of ds.models as Record<string, unknown>[]) {
      const ms = (m.metrics ?? {}) as Record<string, Stat>;
      lines.push(
        `| ${String(m.model)} | ${String(m.parameters)} | ${metrics.map((k) => (ms[k.name] ? statText(ms[k.name] as Stat) : '–')).join(' | ')} | ${m.trainSeconds ? statText(m.trainSeconds as Stat) : '–'} | ${String(m.runs)} |`,
      );
    }
    const cmp = isObject(ds.comparisons) ? ds.comparisons : {};
    for (const c of Object.values(cmp)) {
      if (!isObject(c)) continue;
      lines.push(
        '',
        `${String(c.a)} against ${String(c.b)} on ${String(c.metric)}: ${fmt(Number(c.aMean))} vs ${fmt(Number(c.bMean))} (${(100 * Number(c.relative)).toFixed(1)} %), ${c.within ? 'as good or within the tolerance' : 'worse than the tolerance allows'}.`,
      );
    }
    lines.push('');
  }
  lines.push(`<small>File: \`apps/docs/results/reproduce/${base}.json\`.</small>`, '');
  return { path: `reproduce/${base}`, title: String(exp.title), markdown: lines.join('\n') };
}

/** Every reproduction page, and their index. */
export function reproductionPages(resultsDir: string): Page[] {
  const sources = readJson(join(resultsDir, 'sources.json')) as Record<string, Source>;
  const pages = [fig5Page(resultsDir, sources)];
  const repro = join(resultsDir, 'reproduce');
  if (existsSync(repro)) {
    for (const f of readdirSync(repro)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      pages.push(reproducePage(join(repro, f), f.replace(/\.json$/, ''), sources));
    }
  }
  const index = [
    '# Reproductions',
    '',
    "The paper's figures and tables, generated from the result files `recur` writes. Each page gives the command that produced its numbers; run it to get your own.",
    '',
    ...pages.map((p) => `- [${p.title}](/${p.path})`),
    '',
  ].join('\n');
  return [{ path: 'reproduce/index', title: 'Reproductions', markdown: index }, ...pages];
}
