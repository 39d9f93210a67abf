/**
 * What each task of `recur train` is, for `--help`, the docs and the training loop: a summary, the
 * metrics it reports and the validation metric that picks the best epoch. Each TaskDef (TASK_DEFS)
 * carries its entry; the table lives apart from the tasks' code so that the option table
 * (options.ts), which the tasks import, can read it without an import cycle.
 */
import type { TaskName } from '../options.js';
import type { TaskInfo } from './types.js';

export const TASK_INFO: { readonly [K in TaskName]: TaskInfo } = {
  forecast: {
    summary: 'forecast the next H rows of a multivariate series (CSV) from the L rows before them',
    metrics: {
      mse: 'mean squared error, standardised series',
      mae: 'mean absolute error, standardised series',
    },
    monitor: { metric: 'mse', mode: 'min' },
  },
  classify: {
    summary: 'classify multivariate series (UEA .ts files) of any length',
    metrics: { accuracy: 'share of test series labelled right' },
    monitor: { metric: 'loss', mode: 'min' },
  },
  events: {
    summary: 'predict the next event (its mark and the time until it) of marked event sequences',
    metrics: {
      nll: 'per event',
      rmse: 'inter-event time',
      accuracy: 'next mark',
    },
    monitor: { metric: 'nll', mode: 'min' },
  },
  lm: {
    summary: 'character language model of a text file',
    metrics: {
      bpc: 'bits per character on the held-out last 5 % of the text; the 5 % before it picks the best epoch',
    },
    monitor: { metric: 'bpc', mode: 'min' },
  },
  'image-ar': {
    summary: 'images as sequences of sub-pixels, each predicted from those before it',
    metrics: { bpd: 'bits per sub-pixel' },
    monitor: { metric: 'bpd', mode: 'min' },
  },
};

/** A task's metrics for help: 'events nll (per event), rmse (inter-event time), …'. */
export function describeMetrics(task: TaskName): string {
  const list = Object.entries(TASK_INFO[task].metrics).map(([name, what]) => `${name} (${what})`);
  return `${task} ${list.join(', ')}`;
}
