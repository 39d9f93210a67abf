import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Invocation } from '../cli.js';
import { CliError, InterruptedError, messageOf } from '../errors.js';
import type { OptionsOf, TaskName } from '../options.js';
import {
  EXPERIMENT_NAMES,
  getExperiment,
  type Plan,
  plan,
  type Scale,
  type Unit,
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

/** A run of an experiment: its plan, output folder and the units finished or failed so far. */
interface Reproduction {
  name: string;
  experiment: ReturnType<typeof getExperiment>;
  scale: Scale;
  p: Plan;
  out: string;
  /** The command that reproduces it (in results.json). */
  command: string;
  finished: Map<string, UnitResult>;
  failures: Failure[];
  reporter: Reporter;
}

/** A train experiment's data sets must all be there before the first unit runs. */
function checkData(name: string, experiment: Reproduction['experiment'], p: Plan, root: string) {
  if (experiment.kind !== 'train') return;
  const missing = [...new Set(p.units.map((u) => u.data!))].filter((d) => !existsSync(d));
  if (missing.length > 0) {
    throw new CliError(
      `${name}: data not found: ${missing.join(', ')} (the data folder is ${root}; give it with --data <dir> or $RECUR_DATA)`,
    );
  }
}

/** The experiment's plan and folder, with the units a previous run finished. */
function startReproduction(
  name: string,
  o: OptionsOf<'reproduce'>,
  reporter: Reporter,
): Reproduction {
  const experiment = getExperiment(name);
  const scale = o.scale;
  const root = dataRoot(o.data);
  const p: Plan = plan(experiment, scale, o.seeds, (rel) => join(root, rel));
  checkData(name, experiment, p, root);
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
  return { name, experiment, scale, p, out, command, finished, failures: [], reporter };
}

function resultsOf(r: Reproduction): Results {
  return buildResults(r.p, r.finished, r.failures, r.command, key);
}

/**
 * Runs one unit and records it (finished, or failed with its message); results.json is rewritten
 * after each. A Ctrl-C writes what is finished and stops.
 */
async function runUnit(r: Reproduction, u: Unit, label: string): Promise<UnitResult | undefined> {
  const { experiment, out, reporter } = r;
  reporter.info(`${label}: running (log: ${unitPaths(out, u).log})`);
  makeDirs(join(out, 'units', u.dataset, u.model));
  let result: UnitResult;
  try {
    result =
      experiment.kind === 'rl'
        ? runRlUnit(u)
        : await runTrainUnit(experiment.task as TaskName, u, out);
  } catch (e) {
    if (e instanceof InterruptedError) {
      await writeOutputs(out, resultsOf(r), false);
      throw new InterruptedError(
        `interrupted: ${r.finished.size} of ${r.p.units.length} runs are saved in ${out}; run the same command again to finish the rest (${label} continues from its checkpoint)`,
      );
    }
    const message = messageOf(e);
    r.failures.push({ dataset: u.dataset, model: u.model, seed: u.seed, message });
    reporter.warn(`${label}: failed: ${message}`);
    reporter.event('unit_failed', { dataset: u.dataset, model: u.model, seed: u.seed, message });
    await writeOutputs(out, resultsOf(r), false);
    return undefined;
  }
  writeJsonAtomic(unitPaths(out, u).result, result);
  r.finished.set(key(u.dataset, u.model, u.seed), result);
  return result;
}

/** Runs every unit not finished yet, saying each one's metrics and the time to go. */
async function runUnits(r: Reproduction): Promise<void> {
  const { experiment, p, out, finished, reporter } = r;
  const todo = p.units.length - finished.size;
  let done = 0;
  const start = performance.now();
  for (const u of p.units) {
    if (finished.has(key(u.dataset, u.model, u.seed))) continue;
    done++;
    const label = `[${done}/${todo}] ${u.dataset} · ${u.model} · seed ${u.seed}`;
    const result = await runUnit(r, u, label);
    if (!result) continue;
    const shown = experiment.metrics
      .filter((m) => result.metrics[m.name] !== undefined)
      .slice(0, 3)
      .map((m) => `${m.name} ${fmtNumber(result.metrics[m.name])}`)
      .join(', ');
    const elapsed = (performance.now() - start) / 1e3;
    reporter.info(
      `${label}: ${shown} (${fmtNumber(result.wallSeconds, 3)} s; ${fmtDuration(elapsed)} so far, ~${fmtDuration((elapsed / done) * (todo - done))} to go)`,
    );
    reporter.event('unit', {
      dataset: u.dataset,
      model: u.model,
      seed: u.seed,
      metrics: result.metrics,
      seconds: result.wallSeconds,
    });
    await writeOutputs(out, resultsOf(r), false);
  }
}

export async function reproduceCommand(
  inv: Invocation<'reproduce'>,
  reporter: Reporter,
): Promise<number> {
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
  const r = startReproduction(name, o, reporter);
  const { experiment, scale, p, out, finished } = r;
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
  await runUnits(r);
  const final = resultsOf(r);
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
    failures: r.failures.length,
  });
  return r.failures.length > 0 ? 1 : 0;
}
