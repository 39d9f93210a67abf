/**
 * What `recur export` writes for a run: its task network over whole sequences (model.onnx), its
 * input map and sequence model one token at a time (step.onnx), and what a deployment needs to
 * feed them (recur-onnx.json).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  nn,
  type OnnxFiles,
  ones,
  SequenceModule,
  type StreamState,
  stateToJSON,
  type Tensor,
  TensorError,
  toOnnxFiles,
} from '@recur/tensor';
import { CliError } from '../errors.js';
import { type BackboneConfig, isSequenceModel } from '../models/backbone.js';
import { ClassifyNet, ForecastNet } from '../models/nets.js';
import { isTaskRun } from '../tasks/setup.js';
import type { RunConfig } from '../tasks/types.js';
import { loadWeights, RUN_FILES } from '../train/checkpoint.js';

/** The task networks that export: one input x [batch, tokens, features]. */
export type ExportableNet = ForecastNet | ClassifyNet;

/** A classifier over unpadded sequences: every step is real (mask of ones, lengths T). */
class WholeSequenceClassifier extends nn.Module {
  readonly inputSize: number;
  constructor(
    readonly net: ClassifyNet,
    dims: number,
  ) {
    super();
    this.inputSize = dims;
  }
  override forward(x: Tensor): Tensor {
    const [b, t] = x.shape as [number, number, number];
    return this.net.forward(x, ones([b, t]), new Array<number>(b).fill(t));
  }
}

/** The input map and sequence model of a task network, token by token: x_t → features h_t. */
class SequenceFeatures extends SequenceModule {
  readonly inputSize: number;
  constructor(readonly net: ExportableNet) {
    super();
    this.inputSize = net.inProj.inFeatures;
  }
  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    return this.net.backbone.run(this.net.inProj.forward(x), state);
  }
  initState(batch: number): StreamState {
    return this.net.backbone.initState(batch);
  }
}

/** The run's network with its best weights; runs without one (naive, linear, events, lm) are refused. */
export function loadRunNet(
  dir: string,
  run: RunConfig,
): { net: ExportableNet; inputs: number; outputs: (string | number)[] } {
  if (!isSequenceModel(run.model.name)) {
    throw new CliError(
      `${dir}: model '${run.model.name}' is a closed-form forecaster with no network to export`,
    );
  }
  const model = run.model as BackboneConfig;
  let net: ExportableNet;
  let inputs: number;
  /** The shape of the model's output y. */
  let outputs: (string | number)[];
  if (isTaskRun(run, 'forecast')) {
    const tc = run.taskConfig;
    inputs = tc.channels.length;
    net = new ForecastNet(model, inputs, tc.horizon, tc.instanceNorm);
    outputs = ['batch', tc.horizon, inputs];
  } else if (isTaskRun(run, 'classify')) {
    const tc = run.taskConfig;
    inputs = tc.dims;
    net = new ClassifyNet(model, tc.dims, tc.labels.length, tc.pool);
    outputs = ['batch', tc.labels.length];
  } else {
    throw new CliError(
      `${dir}: export supports forecast and classify runs, this one is '${run.task}'`,
    );
  }
  const weights = join(dir, RUN_FILES.best);
  if (!existsSync(weights)) throw new CliError(`${weights}: no such file (the run has no weights)`);
  loadWeights(weights, net);
  net.eval();
  return { net, inputs, outputs };
}

export interface OnnxExport {
  model: OnnxFiles;
  step: OnnxFiles;
  /** recur-onnx.json */
  manifest: Record<string, unknown>;
}

/**
 * Both graphs and the manifest, in memory (nothing is written here). Weights go to side files
 * (ONNX external data) when a graph would pass 2 GB, or always with `externalData`.
 */
export function exportRun(dir: string, run: RunConfig, externalData = false): OnnxExport {
  const { net, inputs, outputs } = loadRunNet(dir, run);
  const whole = net instanceof ClassifyNet ? new WholeSequenceClassifier(net, inputs) : net;
  const features = new SequenceFeatures(net);
  const threshold = externalData ? 0 : undefined;
  let model: OnnxFiles;
  let step: OnnxFiles;
  try {
    model = toOnnxFiles(
      whole,
      { mode: 'parallel', inputSize: inputs, name: `${run.task}-${run.model.name}` },
      { location: 'model.onnx.data', threshold },
    );
    step = toOnnxFiles(
      features,
      { mode: 'step', inputSize: inputs, name: `${run.model.name}-step` },
      { location: 'step.onnx.data', threshold },
    );
  } catch (e) {
    if (e instanceof TensorError) throw new CliError(`${dir}: cannot export: ${e.message}`);
    throw e;
  }
  const init = features.initState(1);
  const keys = Object.keys(init);
  const tc = run.taskConfig as Record<string, unknown>;
  const d = (run.model as BackboneConfig).dModel;
  const manifest = {
    format: 'recur-onnx',
    version: 1,
    task: run.task,
    model: run.model,
    opset: 17,
    files: {
      model: {
        file: 'model.onnx',
        ...(model.data.length > 0 ? { externalData: model.location } : {}),
        inputs: { x: ['batch', 'tokens', inputs] },
        outputs: { y: outputs },
        notes:
          run.task === 'forecast'
            ? 'x: the lookback window, standardised with normalisation; y: the forecast on the same scale'
            : 'x: one unpadded sequence per row, standardised with normalisation; y: class scores (labels in order)',
      },
      step: {
        file: 'step.onnx',
        ...(step.data.length > 0 ? { externalData: step.location } : {}),
        inputs: {
          x: ['batch', inputs],
          ...Object.fromEntries(keys.map((k) => [`state.${k}`, init[k]?.shape])),
        },
        outputs: {
          y: ['batch', d],
          ...Object.fromEntries(keys.map((k) => [`next.${k}`, init[k]?.shape])),
        },
        notes:
          "one token: the input map and sequence model's features for it (the task head reads the last token's); feed each next.<key> back as state.<key>",
      },
    },
    stateKeys: keys,
    /** The state before the first token, at batch 1 (repeat along the batch axis for more). */
    initialState: stateToJSON(init),
    normalisation:
      run.task === 'forecast'
        ? { channels: tc.channels, ...(tc.scaler as object), instanceNorm: tc.instanceNorm }
        : { mean: tc.mean, std: tc.std, labels: tc.labels },
  };
  return { model, step, manifest };
}
