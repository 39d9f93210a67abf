import { keep, noGrad, tidy } from '../engine.js';
import { fmtShape, TensorError } from '../errors.js';
import { clearGrads } from '../nn/module.js';
import { Tensor } from '../tensor.js';

/** Hyperparameters every group has; optimisers add their own (momentum, betas, …). */
export interface GroupHyper {
  lr: number;
  /** The lr a scheduler started from (set by the first LRScheduler attached). */
  initialLr?: number;
}

/** A parameter group: its parameters and its hyperparameters. */
export type ParamGroup<H extends GroupHyper = GroupHyper> = H & { params: Tensor[] };

/** What the constructor takes for a group: hyperparameters left out take the optimiser's defaults. */
export type ParamGroupInput<H extends GroupHyper = GroupHyper> = Partial<H> & {
  params: Iterable<Tensor>;
};

/** Parameters, or parameter groups with their own hyperparameters. */
export type ParamsInput<H extends GroupHyper = GroupHyper> =
  | Iterable<Tensor>
  | readonly ParamGroupInput<H>[];

/** Per-parameter state: step counts and buffers (momentum, moments). */
export type ParamState = Record<string, Tensor | number>;

/** PyTorch's layout: state keyed by the parameter's position across all groups, groups by index list. */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

function copyHyper(value: unknown): unknown {
  return Array.isArray(value) ? value.slice() : value;
}

/**
 * Base of the optimisers. step() updates every parameter that has a gradient, under noGrad, writing
 * with Tensor.assign (parameters keep their identity) inside tidy() (no temporaries survive a step).
 */
export abstract class Optimizer<H extends GroupHyper = GroupHyper> {
  readonly defaults: H;
  readonly paramGroups: ParamGroup<H>[] = [];
  protected readonly state = new Map<Tensor, ParamState>();
  protected readonly name: string;

  constructor(name: string, params: ParamsInput<H>, defaults: H) {
    this.name = name;
    this.defaults = defaults;
    if (params === null || typeof params !== 'object' || !(Symbol.iterator in params)) {
      throw new TensorError(
        name,
        `expected an iterable of parameters or of parameter groups, got ${String(params)}`,
      );
    }
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw new TensorError(name, 'got an empty parameter list');
    if (list.every((p) => p instanceof Tensor))
      this.addParamGroup({ params: list } as unknown as ParamGroupInput<H>);
    else {
      for (const g of list) {
        if (g === null || typeof g !== 'object' || g instanceof Tensor || !('params' in g)) {
          throw new TensorError(
            name,
            'expected either all Tensors or all parameter groups ({ params, ... })',
          );
        }
        this.addParamGroup(g as ParamGroupInput<H>);
      }
    }
  }

  /** Checks a group's hyperparameters (subclasses throw a TensorError naming the bad one). */
  protected abstract validate(group: H): void;

  /** Updates one parameter from its gradient; runs inside tidy() and noGrad(). */
  protected abstract update(
    param: Tensor,
    grad: Tensor,
    group: ParamGroup<H>,
    state: ParamState,
  ): void;

  /**
   * Adds a group of parameters with its own hyperparameters (those left out take the optimiser's
   * defaults). Throws when a parameter is not a float32 leaf tensor, is already in a group, or a
   * hyperparameter is out of range.
   */
  addParamGroup(group: ParamGroupInput<H>): void {
    const { params, ...hyper } = group;
    const list = params instanceof Tensor ? [params] : [...params];
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    list.forEach((p, i) => {
      if (!(p instanceof Tensor))
        throw new TensorError(
          this.name,
          `parameter ${i} of group ${this.paramGroups.length} is not a Tensor`,
        );
      if (p.dtype !== 'float32' || !p.isLeaf) {
        throw new TensorError(
          this.name,
          `parameter ${i} (${p.dtype} ${fmtShape(p.shape)}) must be a float32 leaf tensor`,
        );
      }
      if (seen.has(p))
        throw new TensorError(
          this.name,
          `parameter ${i} ${fmtShape(p.shape)} appears more than once across the parameter groups`,
        );
      seen.add(p);
    });
    const merged = { ...this.defaults } as Record<string, unknown>;
    for (const [k, v] of Object.entries(hyper)) if (v !== undefined) merged[k] = v;
    for (const k of Object.keys(merged)) merged[k] = copyHyper(merged[k]);
    const full = { ...merged, params: list } as ParamGroup<H>;
    this.validate(full);
    this.paramGroups.push(full);
  }

  /** One update of every parameter that has a gradient (parameters without one are skipped). */
  step(): void {
    tidy(() =>
      noGrad(() => {
        for (const group of this.paramGroups) {
          for (const p of group.params) {
            if (!p.grad) continue;
            let s = this.state.get(p);
            if (!s) {
              s = {};
              this.state.set(p, s);
            }
            this.update(p, p.grad, group, s);
          }
        }
      }),
    );
  }

  /** Disposes every parameter's gradient and sets it to null. */
  zeroGrad(): void {
    clearGrads(this.paramGroups.flatMap((g) => g.params));
  }

  /** A state tensor that outlives the step's tidy() scope. */
  protected persistent(t: Tensor): Tensor {
    return keep(t);
  }

  /**
   * Hyperparameters and per-parameter state (tensors as detached views: a snapshot, since later
   * steps assign new data), in PyTorch's layout, for checkpoints.
   */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const ids: number[] = [];
      for (const p of group.params) {
        const s = this.state.get(p);
        if (s) {
          const copy: ParamState = {};
          for (const [k, v] of Object.entries(s)) copy[k] = v instanceof Tensor ? v.detach() : v;
          state[index] = copy;
        }
        ids.push(index++);
      }
      const { params: _params, ...hyper } = group;
      const h: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(hyper)) h[k] = copyHyper(v);
      paramGroups.push({ ...h, params: ids });
    }
    return { state, paramGroups };
  }

  /** Restores stateDict() output onto an optimiser over parameters of the same shapes and grouping. */
  loadStateDict(dict: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (
      !dict ||
      typeof dict !== 'object' ||
      !Array.isArray(dict.paramGroups) ||
      typeof dict.state !== 'object'
    ) {
      throw new TensorError(op, 'expected { state, paramGroups } as stateDict() returns');
    }
    if (dict.paramGroups.length !== this.paramGroups.length) {
      throw new TensorError(
        op,
        `expected ${this.paramGroups.length} parameter group(s), got ${dict.paramGroups.length}`,
      );
    }
    const byIndex = new Map<number, Tensor>();
    dict.paramGroups.forEach((g, gi) => {
      const mine = this.paramGroups[gi]!;
      if (!Array.isArray(g.params) || g.params.length !== mine.params.length) {
        throw new TensorError(
          op,
          `group ${gi}: expected ${mine.params.length} parameters, got ${Array.isArray(g.params) ? g.params.length : 'none'}`,
        );
      }
      g.params.forEach((id, k) => {
        byIndex.set(id, mine.params[k]!);
      });
    });
    const restored = new Map<Tensor, ParamState>();
    for (const [key, s] of Object.entries(dict.state)) {
      const p = byIndex.get(Number(key));
      if (!p) throw new TensorError(op, `state for parameter ${key}, which no group lists`);
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        if (v instanceof Tensor) {
          if (v.isDisposed)
            throw new TensorError(op, `state '${k}' of parameter ${key} was disposed`);
          if (
            v.dtype !== 'float32' ||
            v.rank !== p.rank ||
            v.shape.some((d, i) => d !== p.shape[i])
          ) {
            throw new TensorError(
              op,
              `state '${k}' of parameter ${key}: expected float32 ${fmtShape(p.shape)}, got ${v.dtype} ${fmtShape(v.shape)}`,
            );
          }
          copy[k] = keep((v.backend === p.backend ? v : v.to(p.backend)).detach());
        } else if (typeof v === 'number') copy[k] = v;
        else
          throw new TensorError(
            op,
            `state '${k}' of parameter ${key}: expected a Tensor or a number, got ${typeof v}`,
          );
      }
      restored.set(p, copy);
    }
    const groups = dict.paramGroups.map((g, gi) => {
      const { params: _params, ...hyper } = g;
      const merged = { ...this.paramGroups[gi]! } as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(hyper)) merged[k] = copyHyper(v);
      this.validate(merged as unknown as H);
      return merged;
    });
    // Everything checked: replace.
    for (const s of this.state.values())
      for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
    for (const [p, s] of restored) this.state.set(p, s);
    groups.forEach((g, gi) => {
      Object.assign(this.paramGroups[gi] as object, g);
    });
  }
}

/**
 * State entry `key` of a parameter as a tensor, or undefined when it has none yet; throws a
 * TensorError naming `op` and the key when it holds a number (a state dict loaded from elsewhere).
 */
export function stateTensor(op: string, state: ParamState, key: string): Tensor | undefined {
  const v = state[key];
  if (v === undefined || v instanceof Tensor) return v;
  throw new TensorError(op, `expected state '${key}' to be a Tensor, got the number ${v}`);
}

/** State entry `key` as a number; throws a TensorError naming `op` and the key otherwise. */
export function stateNumber(op: string, state: ParamState, key: string): number {
  const v = state[key];
  if (typeof v === 'number') return v;
  throw new TensorError(
    op,
    `expected state '${key}' to be a number, got ${v === undefined ? 'none' : 'a Tensor'}`,
  );
}

export function checkNumber(
  op: string,
  name: string,
  value: unknown,
  ok: (v: number) => boolean,
  expected: string,
): void {
  if (typeof value !== 'number' || !ok(value)) {
    throw new TensorError(op, `expected ${name} ${expected}, got ${String(value)}`);
  }
}
