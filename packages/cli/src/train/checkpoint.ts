import { existsSync } from 'node:fs';
import {
  loadSafetensorsWithMetadata,
  type nn,
  type optim,
  SafetensorsError,
  saveSafetensors,
  saveSafetensorsAsync,
  type Tensor,
} from '@recur/tensor';
import { CliError, messageOf } from '../errors.js';
import { optimizerMetaSchema, parseJsonWith, trainerStateSchema } from '../schema.js';
import { readUserFile, writeFileAtomic } from '../util/files.js';

/** File names inside a run folder. */
export const RUN_FILES = {
  config: 'config.json',
  /** The best weights so far (by the validation metric). */
  best: 'model.safetensors',
  /** The latest weights, optimiser state and trainer state, for --resume. */
  last: 'last.safetensors',
  metrics: 'metrics.json',
  history: 'history.json',
} as const;

/** What the training loop needs to continue exactly where it stopped. */
export interface TrainerState {
  /** Epochs completed. */
  epoch: number;
  /** Optimiser steps taken. */
  step: number;
  best: number | null;
  bestEpoch: number;
  badEpochs: number;
  /** Batches of the current (unfinished) epoch already taken; 0 at an epoch's end. */
  batch: number;
  /** The default generator's state (dropout, initialisation) and the data order's, now. */
  rng: (number | null)[];
  dataRng: (number | null)[];
  /** The data order's state when the current epoch began (to draw its batches again). */
  epochDataRng?: (number | null)[];
  /** Sums over the current epoch's batches so far: training loss and items. */
  lossSum: number;
  items: number;
  /**
   * Training seconds counted against --max-seconds up to this checkpoint, over every process of the
   * run: a resumed run spends what is left of its budget, not a fresh one.
   */
  spentSeconds: number;
  scheduler: { lastEpoch: number; baseLrs: number[] } | null;
  history: Record<string, number>[];
  stopped: boolean;
}

/** Generator states hold NaN ("no spare normal"), which JSON cannot: NaN ↔ null. */
export function rngToJson(state: number[]): (number | null)[] {
  return state.map((v) => (Number.isNaN(v) ? null : v));
}

export function rngFromJson(state: (number | null)[]): number[] {
  return state.map((v) => (v === null ? Number.NaN : v));
}

/** Saves a network's weights (atomically), with the run config in the metadata. */
export function saveWeights(path: string, net: nn.Module, config: unknown): void {
  const bytes = saveSafetensors(net.stateDict(), { 'recur.config': JSON.stringify(config) });
  writeFileAtomic(path, bytes);
}

function readSafetensors(path: string): {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
} {
  const bytes = readUserFile(path, 'checkpoint');
  try {
    return loadSafetensorsWithMetadata(
      new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
  } catch (e) {
    if (e instanceof SafetensorsError)
      throw new CliError(`${path}: not a readable checkpoint (${e.message})`);
    throw e;
  }
}

/** Loads weights saved by saveWeights (or the model part of a last checkpoint) into `net`. */
export function loadWeights(path: string, net: nn.Module): void {
  const { tensors } = readSafetensors(path);
  const record: Record<string, Tensor> = {};
  const isLast = Object.keys(tensors).some((k) => k.startsWith('model.'));
  for (const [k, v] of Object.entries(tensors)) {
    if (!isLast) record[k] = v;
    else if (k.startsWith('model.')) record[k.slice(6)] = v;
  }
  try {
    net.loadStateDict(record);
  } catch (e) {
    throw new CliError(
      `${path}: the weights do not fit the model in config.json (${messageOf(e)})`,
    );
  }
}

/**
 * Saves weights, optimiser and trainer state in one safetensors file (atomically); reads the
 * tensors asynchronously, so they may live on any backend.
 */
export async function saveLast(
  path: string,
  net: nn.Module,
  opt: optim.Optimizer,
  trainer: TrainerState,
): Promise<void> {
  const record: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(net.stateDict())) record[`model.${k}`] = v;
  const dict = opt.stateDict();
  const numbers: Record<string, Record<string, number>> = {};
  for (const [idx, s] of Object.entries(dict.state)) {
    for (const [k, v] of Object.entries(s)) {
      if (typeof v === 'number') {
        numbers[idx] ??= {};
        (numbers[idx] as Record<string, number>)[k] = v;
      } else record[`optim.${idx}.${k}`] = v;
    }
  }
  const bytes = await saveSafetensorsAsync(record, {
    'recur.optimizer': JSON.stringify({ paramGroups: dict.paramGroups, numbers }),
    'recur.trainer': JSON.stringify(trainer),
  });
  writeFileAtomic(path, bytes);
}

/** Restores what saveLast wrote into `net` and `opt`; returns the trainer state. */
export function loadLast(path: string, net: nn.Module, opt: optim.Optimizer): TrainerState {
  if (!existsSync(path))
    throw new CliError(`--resume: ${path} not found: the run has no checkpoint to continue from`);
  const { tensors, metadata } = readSafetensors(path);
  loadWeights(path, net);
  const meta = metadata['recur.optimizer'];
  const tmeta = metadata['recur.trainer'];
  if (!meta || !tmeta)
    throw new CliError(`${path}: not a recur training checkpoint (no optimiser or trainer state)`);
  const { paramGroups, numbers } = parseJsonWith(
    optimizerMetaSchema,
    meta,
    `${path}: optimiser state (metadata 'recur.optimizer')`,
  );
  const state: optim.OptimizerStateDict['state'] = {};
  for (const [k, v] of Object.entries(tensors)) {
    const m = /^optim\.(\d+)\.(.+)$/.exec(k);
    if (!m) continue;
    const idx = Number(m[1]);
    state[idx] ??= {};
    (state[idx] as optim.ParamState)[m[2]!] = v;
  }
  for (const [idx, nums] of Object.entries(numbers)) {
    const i = Number(idx);
    state[i] ??= {};
    Object.assign(state[i] as optim.ParamState, nums);
  }
  try {
    opt.loadStateDict({
      state,
      paramGroups,
    });
  } catch (e) {
    throw new CliError(`${path}: the optimiser state does not fit (${messageOf(e)})`);
  }
  return parseJsonWith(
    trainerStateSchema,
    tmeta,
    `${path}: trainer state (metadata 'recur.trainer')`,
  ) as TrainerState;
}
