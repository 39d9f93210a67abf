import { keep, noGrad, tidy } from './engine.js';
import { fmtShape, TensorError } from './errors.js';
import type { GradNode } from './op.js';
import { onesLike, zerosLike } from './ops/creation.js';
import { shapesEqual } from './shape.js';
import { Tensor } from './tensor.js';

/** Ops reachable from `root` through inputs that need gradients, each after all ops it consumes. */
function topoOrder(root: GradNode): GradNode[] {
  const order: GradNode[] = [];
  const seen = new Set<GradNode>([root]);
  const stack: [GradNode, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1] = i + 1;
      const child = node.inputs[i]!.gradNode;
      if (child && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order;
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  // A fresh view: one gradient tensor can reach several leaves (add's rule passes dy to both), and
  // the seed can be the caller's tensor; each leaf must own its `.grad` (zeroGrad disposes it). A
  // `.grad` from an earlier backward() may still be held by the caller, so it is left to them.
  const prev = t.grad;
  t.grad = keep(prev ? prev.add(g) : g.detach());
}

/**
 * The gradients pending during one backward pass, freed as soon as their last reader is done, so a
 * pass holds O(activations) rather than every partial gradient until it ends. One gradient tensor
 * can fill several slots (a rule may pass dy on unchanged): slots count references. Only tensors
 * made during this pass are ever freed (never the caller's seed or a forward tensor a rule returns).
 */
class PendingGrads {
  private readonly slots = new Map<Tensor, Tensor>();
  private readonly refs = new Map<Tensor, number>();
  constructor(private readonly firstId: number) {}

  /** Whether `t` was made during this pass (ids grow) and so is ours to free. */
  owned(t: Tensor): boolean {
    return t.id >= this.firstId;
  }
  get(input: Tensor): Tensor | undefined {
    return this.slots.get(input);
  }
  /** Empties `input`'s slot and returns its gradient; the caller must release() it once used. */
  take(input: Tensor): Tensor | undefined {
    const g = this.slots.get(input);
    this.slots.delete(input);
    return g;
  }
  /** Adds `g` into `input`'s slot (a new sum when one is there). */
  add(input: Tensor, g: Tensor): void {
    const prev = this.slots.get(input);
    this.put(input, prev ? prev.add(g) : g);
  }
  /** Puts `g` in `input`'s slot, releasing what was there. */
  put(input: Tensor, g: Tensor): void {
    const prev = this.slots.get(input);
    this.slots.set(input, g);
    this.refs.set(g, (this.refs.get(g) ?? 0) + 1);
    if (prev) this.release(prev);
  }
  /** Whether `t` sits in exactly one slot, is ours and shares its buffer with no view: it may be updated in place. */
  exclusive(t: Tensor): boolean {
    return this.refs.get(t) === 1 && this.owned(t) && !t.sharesBuffer;
  }
  /** Drops one reference taken by take(); frees `t` when no slot holds it and it is ours. */
  release(t: Tensor): void {
    const n = (this.refs.get(t) ?? 0) - 1;
    if (n > 0) {
      this.refs.set(t, n);
      return;
    }
    this.refs.delete(t);
    if (this.owned(t)) t.dispose();
  }
  /** Frees `t` unless a slot holds it (a rule's result that went into a sum). */
  drop(t: Tensor): void {
    if (!this.refs.has(t) && this.owned(t)) t.dispose();
  }
  entries(): IterableIterator<[Tensor, Tensor]> {
    return this.slots.entries();
  }
}

/**
 * Reverse-mode differentiation from `root`. Ops are visited once, after every consumer of all their
 * outputs, so multi-output ops get all their output gradients together. Gradient rules run without
 * recording (no higher-order gradients); each rule's intermediates are freed when it returns and
 * each gradient once its op has used it, so memory stays bounded by the forward's activations. Slice
 * gradients are added into one buffer per sliced tensor (OpDef.gradInto) rather than as a
 * full-size tensor per slice. Leaves' gradients are summed during the pass and added to `.grad` at
 * its end; only they survive.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  root.assertAlive('backward');
  if (!root.requiresGrad) {
    throw new TensorError(
      'backward',
      'the tensor does not require gradients (no input had requiresGrad set)',
    );
  }
  if (grad === undefined && root.size !== 1) {
    throw new TensorError(
      'backward',
      `a non-scalar output of shape ${fmtShape(root.shape)} needs an explicit gradient`,
    );
  }
  if (grad && !shapesEqual(grad.shape, root.shape)) {
    throw new TensorError(
      'backward',
      `expected a gradient of shape ${fmtShape(root.shape)}, got ${fmtShape(grad.shape)}`,
    );
  }
  tidy(() =>
    noGrad(() => {
      const pending = new PendingGrads(Tensor.nextId());
      const seed = grad ?? onesLike(root);
      const rootNode = root.gradNode;
      if (!rootNode) {
        accumulateLeaf(root, seed);
        return;
      }
      pending.put(root, seed);
      const order = topoOrder(rootNode);
      for (let k = order.length - 1; k >= 0; k--) {
        const node = order[k]!;
        const outputGrads = node.outputs.map((o) => pending.take(o) ?? null);
        if (outputGrads.every((g) => g === null)) continue;
        const out0 = node.outputs[0]!;
        const dy = outputGrads[0] ?? zerosLike(out0);
        node.inputs.forEach((input, i) => {
          if (input.version !== node.versions[i]) {
            throw new TensorError(
              'backward',
              `input ${i} of '${node.op.name}' (tensor ${input.id}, shape ${fmtShape(input.shape)}) was changed by assign() after it was used (or written in place by sliceAssign); its gradient would be wrong`,
            );
          }
        });
        const into = node.inputs.length === 1 ? node.op.gradInto?.(node.attrs) : undefined;
        const input0 = node.inputs[0]!;
        if (into && input0.requiresGrad) {
          addInPlace(pending, input0, dy, into);
        } else {
          const ctx = {
            inputs: node.inputs,
            output: out0,
            outputs: node.outputs,
            attrs: node.attrs,
            outputGrads,
          };
          // The rule's own intermediates go as soon as it returns; its results are kept.
          const inputGrads = tidy(() => node.op.grad?.(dy, ctx) ?? []);
          node.inputs.forEach((input, i) => {
            const gi = inputGrads[i];
            if (!gi || !input.requiresGrad) return;
            if (!shapesEqual(gi.shape, input.shape)) {
              throw new TensorError(
                `${node.op.name} (gradient)`,
                `rule returned shape ${fmtShape(gi.shape)} for input ${i} of shape ${fmtShape(input.shape)}`,
              );
            }
            pending.add(input, gi);
          });
          for (const gi of inputGrads) if (gi) pending.drop(gi);
        }
        for (const g of outputGrads) if (g) pending.release(g);
        if (!outputGrads[0]) pending.drop(dy);
      }
      for (const [t, g] of pending.entries()) if (t.isLeaf) accumulateLeaf(t, g);
    }),
  );
}

/** Adds a slice's gradient into its input's pending gradient, in place when that one is ours alone. */
function addInPlace(
  pending: PendingGrads,
  input: Tensor,
  dy: Tensor,
  into: (acc: Tensor, dy: Tensor) => void,
): void {
  const prev = pending.get(input);
  if (prev && pending.exclusive(prev)) {
    into(prev, dy);
    return;
  }
  const acc = prev ? prev.add(0) : zerosLike(input);
  into(acc, dy);
  pending.put(input, acc);
}
