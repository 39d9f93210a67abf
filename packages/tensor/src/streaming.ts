import { keep, tidy } from './engine.js';
import { TensorError } from './errors.js';
import { Module } from './nn/module.js';
import { tensor } from './ops/creation.js';
import { concat } from './ops/movement.js';
import type { Tensor } from './tensor.js';

/**
 * The state of a streaming model between tokens: plain named tensors ('layers.0.m', …), so it can be
 * measured, saved with saveSafetensors (or stateToJSON) and resumed in another process.
 */
export type StreamState = Record<string, Tensor>;

/**
 * The streaming contract every sequence model of recur implements, so the CLI and the docs treat them
 * alike: `initState(batch)` is the state before any token, and `step(x, state)` consumes one token
 * per sequence (x [batch, features]) and returns its output and the next state. Inference streams
 * normally run under noGrad(): with gradients on, each state keeps the whole history alive.
 */
export interface Streamable {
  /** The state before any token, for `batch` sequences. */
  initState(batch: number): StreamState;
  /**
   * Consumes one token per sequence, x [batch, features], and returns the output y for it and the
   * next state; does not dispose `state`.
   */
  step(x: Tensor, state: StreamState): { y: Tensor; state: StreamState };
}

/** Bytes held by a state's tensors (its size is what "constant memory per token" is about). */
export function stateBytes(state: StreamState): number {
  let n = 0;
  for (const t of Object.values(state)) n += t.size * 4;
  return n;
}

/** Disposes every tensor of a state (for example the previous one, once `step` has returned). */
export function disposeState(state: StreamState): void {
  for (const t of Object.values(state)) t.dispose();
}

/**
 * A stream that owns its model's state, so a loop of any length holds one state at a time:
 * `step(x)` runs the model's step inside its own tidy() (its temporaries are freed at once), keeps
 * the new state out of every tidy() scope, and disposes the tensors of the state before it that the
 * new one does not share. `state` is valid until the next step (copy it, e.g. with stateToJSON, to
 * keep it). Without a Stream, `state = next` leaves every old state to the garbage collector, whose
 * finalisers only run once the loop yields to the event loop: a synchronous loop then grows.
 */
export class Stream {
  readonly model: Streamable;
  #state: StreamState;
  #disposed = false;

  /** Starts from `initState(batch)`, or continues from `state` (which the stream then owns). */
  constructor(model: Streamable, start: number | StreamState) {
    this.model = model;
    this.#state = typeof start === 'number' ? model.initState(start) : start;
    for (const t of Object.values(this.#state)) keep(t);
  }

  /** The state after the tokens seen so far; valid until the next `step` or `dispose`. */
  get state(): StreamState {
    this.#assertAlive('state');
    return this.#state;
  }

  /** Consumes one token per sequence (x [batch, features]) and returns the output for it. */
  step(x: Tensor): Tensor {
    this.#assertAlive('step');
    const prev = this.#state;
    const { y, state } = tidy(() => this.model.step(x, prev));
    const held = new Set<Tensor>();
    for (const t of Object.values(state)) held.add(keep(t));
    for (const t of Object.values(prev)) if (!held.has(t) && !t.isDisposed) t.dispose();
    this.#state = state;
    return y;
  }

  /** Frees the state; the stream cannot step any more. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    disposeState(this.#state);
  }

  #assertAlive(op: string): void {
    if (this.#disposed) throw new TensorError(`Stream.${op}`, 'the stream was disposed');
  }
}

/** A tensor as JSON (stateToJSON's entries): dtype, shape and row-major values. */
export interface JsonTensor {
  dtype: 'float32' | 'int32';
  shape: number[];
  /** Row-major values; non-finite floats are written as the strings 'Infinity', '-Infinity', 'NaN'. */
  data: (number | string)[];
}

/** A JSON-safe copy of a state (JSON has no −Infinity, which an empty attention state holds). */
export function stateToJSON(state: StreamState): Record<string, JsonTensor> {
  const out: Record<string, JsonTensor> = {};
  for (const [name, t] of Object.entries(state)) {
    const data = Array.from(t.dataSync(), (v) => (Number.isFinite(v) ? v : String(v)));
    out[name] = { dtype: t.dtype, shape: t.shape.slice(), data };
  }
  return out;
}

/** Reads back what stateToJSON wrote, checking every entry. */
export function stateFromJSON(json: unknown): StreamState {
  if (json === null || typeof json !== 'object') {
    throw new TensorError(
      'stateFromJSON',
      `expected an object of named tensors, got ${json === null ? 'null' : typeof json}`,
    );
  }
  const out: StreamState = {};
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    const e = entry as Partial<JsonTensor> | null;
    if (
      !e ||
      !Array.isArray(e.shape) ||
      !Array.isArray(e.data) ||
      (e.dtype !== 'float32' && e.dtype !== 'int32')
    ) {
      throw new TensorError('stateFromJSON', `entry '${name}': expected { dtype, shape, data }`);
    }
    const values = e.data.map((v, i) => {
      const x = typeof v === 'string' ? Number(v) : v;
      if (
        typeof x !== 'number' ||
        (typeof v === 'string' && !['Infinity', '-Infinity', 'NaN'].includes(v))
      ) {
        throw new TensorError(
          'stateFromJSON',
          `entry '${name}': value ${i} is not a number (${JSON.stringify(v)})`,
        );
      }
      return x;
    });
    out[name] = tensor(values, { shape: e.shape, dtype: e.dtype });
  }
  return out;
}

/**
 * Base class of causal sequence modules. Subclasses implement one computation, `run(x, state?)`, over
 * a block of tokens x [B, T, features] continuing from a state; every mode derives from it, so the
 * modes cannot drift apart:
 *
 * - `forward(x)`: parallel over the whole sequence (training);
 * - `step(x_t, state)`: one token, x_t [B, features] (streaming inference);
 * - `forwardChunked(x, chunkSize, state?)`: blocks of `chunkSize` tokens with the state carried
 *   between them (activation memory per block, not per sequence).
 */
export abstract class SequenceModule extends Module implements Streamable {
  /**
   * The one computation: x [B, T, features] continuing from `state` (a fresh sequence when left
   * out) → the outputs y [B, T, …] and the state after the last token.
   */
  abstract run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState };
  /** The state before the first token, for `batch` sequences. */
  abstract initState(batch: number): StreamState;

  override forward(x: Tensor): Tensor {
    return this.run(x).y;
  }

  /**
   * A Stream over this module from `initState(batch)` (or from a saved `state`): the leak-free way
   * to stream, since it frees each state once the next one exists.
   */
  stream(start: number | StreamState): Stream {
    return new Stream(this, start);
  }

  /**
   * One token per sequence, x_t [B, features], after `state` → its output [B, …] and the next state
   * (`run` on a block of one token).
   */
  step(x: Tensor, state: StreamState): { y: Tensor; state: StreamState } {
    if (x.rank !== 2) {
      throw new TensorError(
        `${this.constructor.name}.step`,
        `expected one token per sequence, x of shape [batch, features], got [${x.shape.join(', ')}]`,
      );
    }
    const { y, state: next } = this.run(x.unsqueeze(1), state);
    return { y: y.squeeze(1), state: next };
  }

  /**
   * x [B, T, features] in blocks of `chunkSize` tokens, the state carried from block to block (from
   * `state`, or a fresh one) → the outputs of all T tokens and the final state: the numbers of
   * `run`, with activation memory per block.
   */
  forwardChunked(
    x: Tensor,
    chunkSize: number,
    state?: StreamState,
  ): { y: Tensor; state: StreamState } {
    if (!Number.isInteger(chunkSize) || chunkSize < 1) {
      throw new TensorError(
        `${this.constructor.name}.forwardChunked`,
        `expected a positive integer chunkSize, got ${chunkSize}`,
      );
    }
    if (x.rank !== 3) {
      throw new TensorError(
        `${this.constructor.name}.forwardChunked`,
        `expected x of shape [batch, tokens, features], got [${x.shape.join(', ')}]`,
      );
    }
    const n = x.shape[1]!;
    const ys: Tensor[] = [];
    let s = state ?? this.initState(x.shape[0]!);
    for (let start = 0; start < n; start += chunkSize) {
      const out = this.run(x.slice(1, start, Math.min(n, start + chunkSize)), s);
      ys.push(out.y);
      s = out.state;
    }
    return { y: ys.length === 1 ? ys[0]! : concat(ys, 1), state: s };
  }
}

/** `state` with every key prefixed (to nest a layer's state in a model's). */
export function prefixState(prefix: string, state: StreamState): StreamState {
  const out: StreamState = {};
  for (const [k, v] of Object.entries(state)) out[`${prefix}${k}`] = v;
  return out;
}

/**
 * The entries of `state` under `prefix`, with the prefix removed; missing keys are an error. The
 * result has exactly `keys` (typed as present: `subState(op, '', s, ['k', 'v'] as const).k`).
 */
export function subState<K extends string>(
  op: string,
  prefix: string,
  state: StreamState,
  keys: readonly K[],
): Record<K, Tensor> {
  const out = {} as Record<K, Tensor>;
  for (const k of keys) {
    const t = state[`${prefix}${k}`];
    if (!t) {
      throw new TensorError(
        op,
        `state has no '${prefix}${k}' (keys: ${Object.keys(state).join(', ') || 'none'})`,
      );
    }
    out[k] = t;
  }
  return out;
}

/** Every entry of `state` under `prefix`, with the prefix removed (possibly none). */
export function entriesUnder(prefix: string, state: StreamState): StreamState {
  const out: StreamState = {};
  for (const [k, v] of Object.entries(state))
    if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}
