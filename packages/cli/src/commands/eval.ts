import { join } from 'node:path';
import type { Invocation } from '../cli.js';
import { CliError, requireFiniteMetrics } from '../errors.js';
import { onnxTestMetrics, openSession, requireOrt } from '../onnx/runtime.js';
import { prepareEvaluation } from '../tasks/setup.js';
import type { RunConfig } from '../tasks/types.js';
import { loadWeights, RUN_FILES } from '../train/checkpoint.js';
import { onBackend } from '../train/device.js';
import type { Reporter } from '../util/output.js';
import { metricsTable, readRunConfig } from './train.js';

export async function evalCommand(inv: Invocation<'eval'>, reporter: Reporter): Promise<number> {
  const dir = inv.args[0];
  if (!dir) throw new CliError('missing the run folder: recur eval <run-dir> [--data <path>]');
  const run = readRunConfig(dir, 'recur eval');
  if (inv.options.runtime === 'onnx') {
    if (inv.options.backend === 'webgpu') {
      throw new CliError(
        '--backend webgpu and --runtime onnx: choose one (onnxruntime runs on the CPU)',
      );
    }
    return evalOnnx(dir, run, inv, reporter);
  }
  const weights = join(dir, RUN_FILES.best);
  const options = evalOptions(dir, run, inv, reporter);
  const data = options.data;
  const closedForm = run.model.name === 'naive' || run.model.name === 'linear';
  if (closedForm && inv.options.backend === 'webgpu') {
    reporter.warn(`--backend webgpu: '${run.model.name}' is solved in closed form on the CPU`);
  }
  // The net is built, loaded and run on the chosen backend; metrics are read from it asynchronously.
  const { metrics, runsOn } = await onBackend(
    closedForm ? 'cpu' : inv.options.backend,
    reporter,
    async (runsOn) => {
      const prepared = prepareEvaluation(run, options, weights, (line) => reporter.info(line));
      for (const w of prepared.warnings) reporter.warn(w);
      if (prepared.closedForm) return { metrics: prepared.closedForm.test(), runsOn };
      const task = prepared.neural!;
      loadWeights(weights, task.net);
      task.net.eval();
      for (const line of task.describe()) reporter.info(line);
      const result = await task.test();
      const extra = await task.after?.(options);
      if (extra !== undefined) {
        reporter.heading('sample');
        reporter.print(extra);
        reporter.event('sample', { text: extra });
      }
      return { metrics: result, runsOn };
    },
  );
  const split = 'test';
  requireFiniteMetrics(
    metrics,
    split,
    `check ${weights} (non-finite weights?) and the data for constant or extreme values`,
  );
  reporter.heading(`${run.task} · ${run.model.name} · ${split} split of ${data}`);
  reporter.print(metricsTable(metrics, split));
  reporter.result({
    event: 'result',
    task: run.task,
    model: run.model.name,
    run: dir,
    backend: runsOn,
    ...metrics,
  });
  return 0;
}

/**
 * The options eval runs with: the data (without --data, the data the run was trained on) and how
 * the run cut and split it, which a flag given to eval overrides.
 */
function evalOptions(dir: string, run: RunConfig, inv: Invocation<'eval'>, reporter: Reporter) {
  // config.json records the absolute path of the data the run was trained on.
  const recorded = inv.options.data === undefined;
  const data = inv.options.data ?? run.options.data ?? run.data;
  const test = recorded ? run.options.test : inv.options.test;
  if (recorded) reporter.info(`data ${data} (recorded in ${join(dir, RUN_FILES.config)})`);
  // How the run cut and split its data (events: --max-events, --split-seed) holds for its test
  // split whichever --data is given; a flag given to eval wins.
  return {
    ...inv.options,
    data,
    test,
    seed: run.options.seed ?? 0,
    maxEvents: inv.options.maxEvents ?? run.options.maxEvents,
    splitSeed: inv.options.splitSeed ?? run.options.splitSeed,
  };
}

/** The test metrics computed by onnxruntime-node on the run's exported model.onnx. */
async function evalOnnx(
  dir: string,
  run: RunConfig,
  inv: Invocation,
  reporter: Reporter,
): Promise<number> {
  const file = inv.options.onnx ?? join(dir, 'onnx', 'model.onnx');
  const ort = await requireOrt();
  const session = await openSession(ort, file, inv.options.threads ?? 1);
  try {
    const { metrics, warnings } = await onnxTestMetrics(ort, session, file, run, inv.options);
    for (const w of warnings) reporter.warn(w);
    reporter.heading(
      `${run.task} · ${run.model.name} · onnxruntime · test split of ${inv.options.data}`,
    );
    reporter.print(metricsTable(metrics, 'test'));
    reporter.result({
      event: 'result',
      task: run.task,
      model: run.model.name,
      run: dir,
      runtime: 'onnx',
      ...metrics,
    });
    return 0;
  } finally {
    await session.release();
  }
}
