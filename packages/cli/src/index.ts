/**
 * the library side of the `recur` command — dataset readers in the standard formats, the
 * forecasting protocol and its closed-form baselines, the task networks, the training loop with
 * checkpoints, streaming measurements, and the command line itself.
 *
 * @packageDocumentation
 * @module @recur/cli
 */

export { measureStream, type StreamPoint, type StreamResult } from './bench/stream.js';
export { type ChartOptions, lineChartSpec, type Series } from './charts.js';
export {
  type CliIo,
  type CommandHandler,
  type CommandHandlers,
  coerceOption,
  type Invocation,
  resolveOptions,
  runCli,
} from './cli.js';
export { HANDLERS, runRecur } from './commands/index.js';
export { flopsPerToken } from './commands/info.js';
export {
  readTimeSeriesCsv,
  resolveSplitScheme,
  type SplitBorders,
  type SplitScheme,
  splitBorders,
  type TimeSeriesTable,
} from './data/csv.js';
export {
  type EventSequence,
  type EventSplits,
  loadEvents,
  readEventsJson,
  readRmtpp,
} from './data/events.js';
export {
  ErrorAccumulator,
  type ForecastData,
  fitScaler,
  loadForecastData,
  naiveMetrics,
  type Scaler,
  type Split,
  windowsOf,
} from './data/forecast.js';
export {
  fitLinearForecaster,
  type LinearForecaster,
  linearMetrics,
  ridgeMoments,
} from './data/linear.js';
export { locateTsFiles, readTsFile, type SeriesCase, type SeriesFile } from './data/uea.js';
export { CliError, DataError, InterruptedError } from './errors.js';
export {
  Backbone,
  type BackboneConfig,
  createCore,
  defaultPositions,
  sinusoid,
} from './models/backbone.js';
export { ClassifyNet, EventsNet, ForecastNet, LanguageNet, type Pooling } from './models/nets.js';
export {
  COMMAND_NAMES,
  COMMANDS,
  type CommandName,
  type CommandSpec,
  MODELS,
  type ModelName,
  OPTIONS,
  type OptionKey,
  type OptionKind,
  type OptionSpec,
  type Options,
  type OptionsOf,
  optionsOf,
  SEQUENCE_MODELS,
  type SequenceModelName,
  TASKS,
  type TaskName,
  withDefaults,
} from './options.js';
export type { Metrics, NeuralTask, RunConfig } from './tasks/types.js';
export { lineChart, renderSvg } from './util/charts.js';
export { VERSION } from './version.js';
