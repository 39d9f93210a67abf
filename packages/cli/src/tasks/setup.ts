import { CliError } from '../errors.js';
import { type BackboneConfig, isSequenceModel } from '../models/backbone.js';
import type { Options, OptionsOf, TaskName } from '../options.js';
import { type ClassifyTaskConfig, classifyTask } from './classify.js';
import { type EventsTaskConfig, eventsTask } from './events.js';
import { type ForecastTaskConfig, forecastTask } from './forecast.js';
import { type ImageTaskConfig, imageTask } from './image.js';
import { type LmTaskConfig, lmTask } from './lm.js';
import type { Prepared, RunConfig, TaskDef, TaskSetup } from './types.js';

/** The config each task records in a run's config.json (checked by runConfigSchema). */
export interface TaskConfigs {
  forecast: ForecastTaskConfig;
  classify: ClassifyTaskConfig;
  events: EventsTaskConfig;
  lm: LmTaskConfig;
  'image-ar': ImageTaskConfig;
}

/**
 * Every task of `recur train` and `recur eval`: adding one is a name in TASKS, its config's schema
 * (schema.ts) and an entry here.
 */
export const TASK_DEFS: { [K in TaskName]: TaskDef<TaskConfigs[K]> } = {
  forecast: forecastTask,
  classify: classifyTask,
  events: eventsTask,
  lm: lmTask,
  'image-ar': imageTask,
};

/**
 * Whether a run is one of `task`, narrowing its task config to that task's type (runConfigSchema
 * checked it against the task's schema when config.json was read).
 */
export function isTaskRun<K extends TaskName>(
  run: RunConfig,
  task: K,
): run is RunConfig & { task: K; taskConfig: TaskConfigs[K] & Record<string, unknown> } {
  return run.task === task;
}

function requireData(o: Options): string {
  if (!o.data) throw new CliError('--data <path> is required');
  return o.data;
}

/** A task's setup with the defaults of what it may leave out. */
function completed(
  task: TaskName,
  setup: TaskSetup,
  model: RunConfig['model'],
  taskConfig: Record<string, unknown>,
): Prepared {
  return {
    task,
    model,
    taskConfig,
    neural: setup.neural,
    closedForm: setup.closedForm,
    describe: setup.describe ?? [],
    warnings: setup.warnings ?? [],
  };
}

/** Loads the data of a task, checks it, and builds the model to train. Creates no file. */
export function prepareTraining(
  task: TaskName,
  o: OptionsOf<'train'>,
  onProgress?: (line: string) => void,
): Prepared {
  const name = o.model;
  if (!name) throw new CliError('--model <name> is required');
  if ((name === 'naive' || name === 'linear') && task !== 'forecast') {
    throw new CliError(
      `--model ${name} is a forecasting baseline: it works with the forecast task only`,
    );
  }
  const data = requireData(o);
  const setup = TASK_DEFS[task].prepare({ model: name, data, options: o, onProgress });
  return completed(task, setup, setup.model, setup.taskConfig);
}

/**
 * Rebuilds a trained run's model and data pipeline for new data (its scaler, labels or vocabulary
 * come from the run). Only the test split is evaluated (lm: the last 5 %).
 */
export function prepareEvaluation(
  run: RunConfig,
  o: Options,
  weightsPath: string,
  onProgress?: (line: string) => void,
): Prepared {
  const data = requireData(o);
  const batchSize = o.batchSize ?? run.options.batchSize ?? 32;
  // TASK_DEFS[run.task] takes TaskConfigs[run.task], which runConfigSchema checked taskConfig to be.
  const def = TASK_DEFS[run.task] as TaskDef<unknown> | undefined;
  if (!def) throw new CliError(`config.json: unknown task '${String(run.task)}'`);
  const model = run.model;
  const backbone = (): BackboneConfig => {
    if (!isSequenceModel(model.name))
      throw new CliError(`config.json: unknown model '${model.name}'`);
    return model as BackboneConfig;
  };
  const setup = def.restore({
    run,
    config: run.taskConfig,
    data,
    options: o,
    weightsPath,
    batchSize,
    backbone,
    onProgress,
  });
  return completed(run.task, setup, model, run.taskConfig);
}
