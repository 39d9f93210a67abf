import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Invocation } from '../cli.js';
import { CliError, InterruptedError } from '../errors.js';
import type { TaskName } from '../options.js';
import {
  EXPERIMENT_NAMES,
  getExperiment,
  type Plan,
  plan,
  type Scale,
} from '../reproduce/experiment.js';
import {
  buildResults,
  type Failure,
  type Results,
  resultsMarkdown,
  resultsSvg,
} from '../reproduce/report.js';
import {
  finishedUnit,
  runRlUnit,
  runTrainUnit,
  type UnitResult,
  unitPaths,
} from '../reproduce/units.js';
import { makeDirs, writeFileAtomic, writeJsonAtomic } from '../util/files.js';
import { fmtDuration, fmtNumber, formatTable, type Reporter } from '../util/output.js';

const key = (d: string, m: string, s: number) => `${d}\u0000${m}\u0000${s}`;

/** The folder of the data sets: --data, else $RECUR_DATA, else ../shared/data. */
export function dataRoot(given: string | undefined): string {
  return resolve(given ?? process.env.RECUR_DATA ?? join('..', 'shared', 'data'));
}

function listExperiments(reporter: Reporter): number {
  const rows = EXPERIMENT_NAMES.map((name) => {
    const e = getExperiment(name);
    const p = plan(e, 'small', undefined, (x) => x);
    return {
      name,
      title: e.title,
      models: p.models,
      datasets: p.datasets.map((d) => d.name),
      seeds: p.seeds.length,
      units: p.units.length,
      expectedMinutes: e.scales.small.expectedMinutes,
      expectedMinutesTiny: e.scales.tiny.expectedMinutes,
      expectedMinutesPaper: e.scales.paper.expectedMinutes,
    };
  });
  reporter.print(
    formatTable(
      ['experiment', 'small: runs', 'small: expected', 'what'],
      rows.map((r) => [
        r.name,
        `${r.units} (${r.datasets.length} data × ${r.models.length} models × ${r.seeds} seed${r.seeds > 1 ? 's' : ''})`,
        `~${r.expectedMinutes} min`,
        r.title,
      ]),
    ),
  );
  reporter.print(
    '\nExpected times are for 2 CPU cores at --scale small; --scale tiny takes seconds, --scale paper follows the papers (hours to days on a CPU).',
  );
  reporter.result({ event: 'result', experiments: rows });
  return 0;
}

async function writeOutputs(out: string, results: Results, svg: boolean): Promise<void> {
  writeJsonAtomic(join(out, 'results.json'), results);
  writeFileAtomic(join(out, 'results.md'), resultsMarkdown(results));
  if (svg) writeFileAtomic(join(out, 'results.svg'), await resultsSvg(results));
}

export async function reproduceCommand(inv: Invocation, reporter: Reporter): Promise<number> {
  const o = inv.options;
  if (o.list) {
    if (inv.args.length > 0) throw new CliError('--list takes no experiment name');
    return listExperiments(reporter);
  }
  const name = inv.args[0];
  if (!name) {
    throw new CliError(
      `missing the experiment: recur reproduce <experiment> (one of ${EXPERIMENT_NAMES.join(', ')}), or recur reproduce --list`,
    );
  }
  const experiment = getExperiment(name);
  const scale = (o.scale ?? 'small') as Scale;
  const root = dataRoot(o.data);
  const p: Plan = plan(experiment, scale, o.seeds, (rel) => join(root, rel));
  if (experiment.kind === 'train') {
    const missing = [...new Set(p.units.map((u) => u.data as string))].filter(
      (d) => !existsSync(d),
    );
    if (missing.length > 0) {
      throw new CliError(
        `${name}: data not found: ${missing.join(', ')} (the data folder is ${root}; give it with --data <dir> or $RECUR_DATA)`,
      );
    }
  }
  const out = resolve(o.out ?? join('reproduce', `${name}-${scale}`));
  makeDirs(out);
  const command = [
    'recur reproduce',
    name,
    `--scale ${scale}`,
    ...(o.seeds !== undefined ? [`--seeds ${o.seeds}`] : []),
  ].join(' ');
  const finished = new Map<string, UnitResult>();
  for (const u of p.units) {
    const r = finishedUnit(out, u);
    if (r) finished.set(key(u.dataset, u.model, u.seed), r);
  }
  const failures: Failure[] = [];
  const todo = p.units.length - finished.size;
  reporter.info(
    `${experiment.title}: scale ${scale}, ${p.datasets.length} data set(s) × ${p.models.length} model(s) × ${p.seeds.length} seed(s) = ${p.units.length} runs${finished.size > 0 ? `, ${finished.size} already finished in ${out}` : ''}; expected ~${experiment.scales[scale].expectedMinutes} min in all on 2 cores`,
  );
  reporter.event('start', {
    experiment: name,
    scale,
    out,
    units: p.units.length,
    finished: finished.size,
  });
  const results = () => buildResults(p, finished, failures, command, key);
  let done = 0;
  const start = performance.now();
  for (const u of p.units) {
    const k = key(u.dataset, u.model, u.seed);
    if (finished.has(k)) continue;
    done++;
    const label = `[${done}/${todo}] ${u.dataset} · ${u.model} · seed ${u.seed}`;
    reporter.info(`${label}: running (log: ${unitPaths(out, u).log})`);
    makeDirs(join(out, 'units', u.dataset, u.model));
    let r: UnitResult;
    try {
      r =
        experiment.kind === 'rl'
          ? runRlUnit(u)
          : await runTrainUnit(experiment.task as TaskName, u, out);
    } catch (e) {
      if (e instanceof InterruptedError) {
        await writeOutputs(out, results(), false);
        throw new InterruptedError(
          `interrupted: ${finished.size} of ${p.units.length} runs are saved in ${out}; run the same command again to finish the rest (${label} continues from its checkpoint)`,
        );
      }
      const message = (e as Error).message ?? String(e);
      failures.push({ dataset: u.dataset, model: u.model, seed: u.seed, message });
      reporter.warn(`${label}: failed: ${message}`);
      reporter.event('unit_failed', { dataset: u.dataset, model: u.model, seed: u.seed, message });
      await writeOutputs(out, results(), false);
      continue;
    }
    writeJsonAtomic(unitPaths(out, u).result, r);
    finished.set(k, r);
    const shown = experiment.metrics
      .filter((m) => r.metrics[m.name] !== undefined)
      .slice(0, 3)
      .map((m) => `${m.name} ${fmtNumber(r.metrics[m.name])}`)
      .join(', ');
    const elapsed = (performance.now() - start) / 1e3;
    reporter.info(
      `${label}: ${shown} (${fmtNumber(r.wallSeconds, 3)} s; ${fmtDuration(elapsed)} so far, ~${fmtDuration((elapsed / done) * (todo - done))} to go)`,
    );
    reporter.event('unit', {
      dataset: u.dataset,
      model: u.model,
      seed: u.seed,
      metrics: r.metrics,
      seconds: r.wallSeconds,
    });
    await writeOutputs(out, results(), false);
  }
  const final = results();
  await writeOutputs(out, final, true);
  reporter.print(resultsMarkdown(final));
  reporter.print(`files: ${join(out, 'results.json')}, results.md, results.svg`);
  reporter.result({
    event: 'result',
    experiment: name,
    scale,
    out,
    complete: final.complete,
    units: final.units,
    failures: failures.length,
  });
  return failures.length > 0 ? 1 : 0;
}
