import { keep, noGrad } from '../engine.js';
import { fmtShape, TensorError } from '../errors.js';
import { Tensor } from '../tensor.js';

/** Parameters and buffers by PyTorch-style dotted name ('layers.0.weight'). */
export type StateDict = Record<string, Tensor>;

/** Options of Module.loadStateDict. */
export interface LoadStateDictOptions {
  /** Throw when a key is missing from the record or the record has keys the module lacks. Default true. */
  strict?: boolean;
}

/**
 * What Module.loadStateDict reports: the module's keys the record lacked, and the record's keys the
 * module lacks (both empty in strict mode).
 */
export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * Marks `t` as a trainable parameter: sets requiresGrad and takes it out of any open tidy() scope (a
 * model built inside tidy() keeps its weights). Returns t.
 */
export function parameter(t: Tensor): Tensor {
  if (!t.isLeaf) {
    throw new TensorError(
      'parameter',
      'expected a leaf tensor (no autograd history); use t.detach()',
    );
  }
  t.requiresGrad = true;
  return keep(t);
}

interface OwnMembers {
  params: [string, Tensor][];
  buffers: [string, Tensor][];
  children: [string, Module][];
}

/** Disposes each distinct gradient once (several leaves can hold the same tensor) and clears them. */
export function clearGrads(params: Iterable<Tensor>): void {
  const seen = new Set<Tensor>();
  for (const p of params) {
    const g = p.grad;
    if (g && !seen.has(g)) {
      seen.add(g);
      g.dispose();
    }
    p.grad = null;
  }
}

/**
 * Base class of layers and models, as torch.nn.Module. Parameters and children are found from the
 * instance's own enumerable properties, in insertion (declaration) order:
 *
 * - a leaf Tensor with requiresGrad is a parameter (see `parameter()`);
 * - a Module is a child;
 * - an array holds a list of children (and parameters) named "0", "1", … under the property name
 *   (`this.layers = [a, b]` gives 'layers.0.weight'), as torch.nn.ModuleList does.
 *
 * Non-trainable state (running statistics, masks) is registered with `registerBuffer`. A module is
 * applied by calling `forward(...)`.
 */
export class Module {
  /** Training mode (Dropout is active); switch with train() / eval(). */
  training = true;
  readonly #bufferNames = new Set<string>();

  /** The computation; subclasses override it. */
  forward(..._args: unknown[]): unknown {
    throw new TensorError(`${this.constructor.name}.forward`, 'not implemented by this module');
  }

  /**
   * Registers non-trainable state under `name` (set as `this[name]` as well); buffers are saved by
   * stateDict() but never returned by parameters(). `null` registers an empty slot.
   */
  registerBuffer(name: string, value: Tensor | null): Tensor | null {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new TensorError(
        'registerBuffer',
        `expected a non-empty name without '.', got '${String(name)}'`,
      );
    }
    if (value !== null && !(value instanceof Tensor)) {
      throw new TensorError(
        'registerBuffer',
        `expected a Tensor or null for '${name}', got ${typeof value}`,
      );
    }
    const self = this as unknown as Record<string, unknown>;
    // A declared but unset field (`runningMean!: Tensor`) is undefined here: that is fine.
    if (!this.#bufferNames.has(name) && self[name] !== undefined) {
      throw new TensorError(
        'registerBuffer',
        `'${name}' is already an attribute of ${this.constructor.name}`,
      );
    }
    this.#bufferNames.add(name);
    self[name] = value === null ? null : keep(value);
    return value;
  }

  /** This module's own parameters, buffers and children (not recursive). */
  #own(): OwnMembers {
    const out: OwnMembers = { params: [], buffers: [], children: [] };
    const self = this as unknown as Record<string, unknown>;
    const visit = (name: string, v: unknown, top: boolean): void => {
      if (v instanceof Tensor) {
        if (v.requiresGrad && v.isLeaf) out.params.push([name, v]);
      } else if (v instanceof Module) {
        out.children.push([name, v]);
      } else if (top && Array.isArray(v)) {
        v.forEach((e, i) => {
          visit(`${name}.${i}`, e, false);
        });
      }
    };
    for (const key of Object.keys(self)) {
      const v = self[key];
      if (this.#bufferNames.has(key)) {
        if (v instanceof Tensor) out.buffers.push([key, v]);
      } else visit(key, v, true);
    }
    return out;
  }

  /** Direct children with their names ('encoder', 'layers.0', …). */
  namedChildren(): [string, Module][] {
    return this.#own().children;
  }

  /** Direct children, without their names. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every descendant, each once, depth first ('' names this module). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const walk = (m: Module, name: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [child, c] of m.namedChildren()) walk(c, name ? `${name}.${child}` : child);
    };
    walk(this, prefix);
    return out;
  }

  /** This module and every descendant, each once, depth first. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Every trainable parameter once (a shared tensor under its first name), PyTorch-style names. */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, p] of m.#own().params) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([prefix ? `${prefix}.${name}` : name, p]);
      }
    }
    return out;
  }

  /** Every trainable parameter once (what an optimizer takes). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every buffer (a tensor saved with the module but not trained) with its dotted name. */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, b] of m.#own().buffers) {
        if (seen.has(b)) continue;
        seen.add(b);
        out.push([prefix ? `${prefix}.${name}` : name, b]);
      }
    }
    return out;
  }

  /** Every buffer, without its name. */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /** Number of trainable scalars (shared parameters count once). */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: train(false). */
  eval(): this {
    return this.train(false);
  }

  /** Calls fn on every descendant and then on this module (torch's apply order: children first). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Disposes the parameters' gradients and sets them to null. */
  zeroGrad(): void {
    clearGrads(this.parameters());
  }

  /**
   * Parameters and buffers as PyTorch names them: each module's own parameters, then its buffers,
   * then its children's, recursively (a tensor shared by two modules appears under both names).
   */
  #stateEntries(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const path = new Set<Module>();
    const walk = (m: Module, prefix: string): void => {
      if (path.has(m)) return; // a cycle: a module that holds its ancestor
      path.add(m);
      const own = m.#own();
      for (const [name, t] of [...own.params, ...own.buffers]) out.push([prefix + name, t]);
      for (const [name, c] of own.children) walk(c, `${prefix}${name}.`);
      path.delete(m);
    };
    walk(this, '');
    return out;
  }

  /**
   * Parameters and buffers by name. The values are detached views of the current data: optimiser
   * steps assign new data to the parameters and leave the views unchanged, so this is a snapshot
   * that costs no copy.
   */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [name, t] of this.#stateEntries()) out[name] = t.detach();
    return out;
  }

  /**
   * Copies tensors from `record` into the parameters and buffers of the same names (with
   * Tensor.assign, so they keep their identity and optimisers stay attached). Shapes and dtypes must
   * match; with `strict` (default) the key sets must match too. Checks everything before it assigns
   * anything.
   */
  loadStateDict(
    record: Record<string, Tensor>,
    options: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    const strict = options.strict ?? true;
    const entries = this.#stateEntries();
    const own = new Set(entries.map(([k]) => k));
    const missingKeys = entries.map(([k]) => k).filter((k) => !(k in record));
    const unexpectedKeys = Object.keys(record).filter((k) => !own.has(k));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts: string[] = [];
      if (missingKeys.length > 0)
        parts.push(`missing keys: ${missingKeys.map((k) => `'${k}'`).join(', ')}`);
      if (unexpectedKeys.length > 0)
        parts.push(`unexpected keys: ${unexpectedKeys.map((k) => `'${k}'`).join(', ')}`);
      throw new TensorError(
        'loadStateDict',
        `state dict does not match ${this.constructor.name} (${parts.join('; ')}); pass { strict: false } to load the matching keys only`,
      );
    }
    const todo: [Tensor, Tensor][] = [];
    const problems: string[] = [];
    for (const [name, target] of entries) {
      if (!(name in record)) continue;
      const value = record[name];
      if (!(value instanceof Tensor)) {
        problems.push(
          `'${name}': expected a Tensor, got ${value === null ? 'null' : typeof value}`,
        );
        continue;
      }
      if (value.isDisposed) {
        problems.push(`'${name}': the tensor was disposed`);
        continue;
      }
      const sameShape =
        value.rank === target.rank && value.shape.every((d, i) => d === target.shape[i]);
      if (!sameShape || value.dtype !== target.dtype) {
        problems.push(
          `'${name}': expected ${target.dtype} ${fmtShape(target.shape)}, got ${value.dtype} ${fmtShape(value.shape)}`,
        );
        continue;
      }
      todo.push([target, value]);
    }
    if (problems.length > 0) {
      throw new TensorError(
        'loadStateDict',
        `${problems.length} tensor(s) do not fit: ${problems.join('; ')}`,
      );
    }
    noGrad(() => {
      for (const [target, value] of todo) target.assign(value);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Extra text inside this module's parentheses in toString(), e.g. 'inFeatures=4, outFeatures=2'. */
  extraRepr(): string {
    return '';
  }

  /** A PyTorch-like summary: the module tree with each layer's settings. */
  toString(): string {
    const children = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (children.length === 0) return `${head})`;
    const lines = children.map(
      ([name, m]) => `  (${name}): ${m.toString().split('\n').join('\n  ')}`,
    );
    return `${head}\n${lines.join('\n')}\n)`;
  }
}

/** Applies modules in order, each to the previous one's output. Children are named "0", "1", …. */
export class Sequential extends Module {
  [index: number]: Module;
  #length = 0;

  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.append(m);
  }

  /** The number of modules held. */
  get length(): number {
    return this.#length;
  }

  /** Adds a module at the end. */
  append(m: Module): this {
    if (!(m instanceof Module)) {
      throw new TensorError(
        'Sequential',
        `expected Module arguments, got ${m === null ? 'null' : typeof m} at position ${this.#length}`,
      );
    }
    this[this.#length++] = m;
    return this;
  }

  /** The modules in order. */
  *[Symbol.iterator](): Iterator<Module> {
    for (let i = 0; i < this.#length; i++) yield this[i]!;
  }

  /** Feeds x through every module in order (typed for the usual Tensor → Tensor chain). */
  override forward(x: Tensor): Tensor {
    let y: unknown = x;
    for (const m of this) y = m.forward(y);
    return y as Tensor;
  }
}
