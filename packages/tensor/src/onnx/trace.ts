import type { AnyOpDef } from '../op.js';
import type { Tensor } from '../tensor.js';

/** One op application seen while tracing: what ran, on what, with which attributes, giving what. */
export interface TracedOp {
  readonly op: AnyOpDef;
  readonly inputs: readonly Tensor[];
  readonly attrs: unknown;
  readonly outputs: readonly Tensor[];
  /** The module path the op ran under ('layers.0.attn'; '' for the root). */
  readonly path: string;
}

/** What runOp and detach() report to while a trace is recording. */
export interface Recorder {
  op(entry: Omit<TracedOp, 'path'>): void;
  /** `out` is `src` under another name (detach): the same value in the graph. */
  alias(src: Tensor, out: Tensor): void;
}

let active: Recorder | null = null;
let exporting = 0;

/**
 * Whether toOnnx is running (tracing a module, its warm-up steps included). A module whose fast
 * path writes tensors in place (which a trace cannot record: an exported graph is a pure function
 * of its inputs) checks this and takes its pure path instead, e.g. the Transformer's KV cache
 * concatenates rather than writing into preallocated capacity while it is exported.
 */
export function isExporting(): boolean {
  return exporting > 0;
}

/** @internal Runs `fn` with isExporting() true. */
export function whileExporting<T>(fn: () => T): T {
  exporting++;
  try {
    return fn();
  } finally {
    exporting--;
  }
}

/** @internal The recorder of the trace in progress, if any (read by runOp and detach). */
export function activeRecorder(): Recorder | null {
  return active;
}

/** @internal Runs `fn` with `recorder` receiving every op; traces do not nest. */
export function withRecorder<T>(recorder: Recorder, fn: () => T): T {
  if (active) throw new Error('a trace is already recording');
  active = recorder;
  try {
    return fn();
  } finally {
    active = null;
  }
}

/** @internal Runs `fn` with the trace in progress (if any) paused: its ops are not recorded. */
export function withoutRecorder<T>(fn: () => T): T {
  const saved = active;
  active = null;
  try {
    return fn();
  } finally {
    active = saved;
  }
}
