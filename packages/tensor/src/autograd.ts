import { keep, noGrad, tidy } from './engine.js';
import { fmtShape, TensorError } from './errors.js';
import type { GradNode } from './op.js';
import { onesLike, zerosLike } from './ops/creation.js';
import { shapesEqual } from './shape.js';
import type { Tensor } from './tensor.js';

/** Ops reachable from `root` through inputs that need gradients, each after all ops it consumes. */
function topoOrder(root: GradNode): GradNode[] {
  const order: GradNode[] = [];
  const seen = new Set<GradNode>([root]);
  const stack: [GradNode, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as [GradNode, number];
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1] = i + 1;
      const child = (node.inputs[i] as Tensor).gradNode;
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

function accumulateLeaf(t: Tensor, g: Tensor, fresh: Set<Tensor>): void {
  // A fresh view: one gradient tensor can reach several leaves (add's rule passes dy to both), and
  // the seed can be the caller's tensor; each leaf must own its `.grad` (zeroGrad disposes it).
  const prev = t.grad;
  t.grad = keep(prev ? prev.add(g) : g.detach());
  // A partial sum made earlier in this pass (a leaf used twice) is ours to free; a `.grad` from an
  // earlier backward() may still be held by the caller, so it is left to them.
  if (prev && fresh.has(prev)) prev.dispose();
  fresh.add(t.grad);
}

/**
 * Reverse-mode differentiation from `root`. Ops are visited once, after every consumer of all their
 * outputs, so multi-output ops get all their output gradients together. Gradient rules run without
 * recording (no higher-order gradients) inside a scope that disposes every intermediate; only the
 * leaves' `.grad` survive.
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
      const seed = grad ?? onesLike(root);
      const fresh = new Set<Tensor>();
      const rootNode = root.gradNode;
      if (!rootNode) {
        accumulateLeaf(root, seed, fresh);
        return;
      }
      const grads = new Map<Tensor, Tensor>([[root, seed]]);
      const order = topoOrder(rootNode);
      for (let k = order.length - 1; k >= 0; k--) {
        const node = order[k] as GradNode;
        const outputGrads = node.outputs.map((o) => grads.get(o) ?? null);
        for (const o of node.outputs) grads.delete(o);
        if (outputGrads.every((g) => g === null)) continue;
        const out0 = node.outputs[0] as Tensor;
        const dy = outputGrads[0] ?? zerosLike(out0);
        const ctx = {
          inputs: node.inputs,
          output: out0,
          outputs: node.outputs,
          attrs: node.attrs,
          outputGrads,
        };
        node.inputs.forEach((input, i) => {
          if (input.version !== node.versions[i]) {
            throw new TensorError(
              'backward',
              `input ${i} of '${node.op.name}' (tensor ${input.id}, shape ${fmtShape(input.shape)}) was changed by assign() after it was used; its gradient would be wrong`,
            );
          }
        });
        const inputGrads = node.op.grad?.(dy, ctx) ?? [];
        node.inputs.forEach((input, i) => {
          const gi = inputGrads[i];
          if (!gi || !input.requiresGrad) return;
          if (!shapesEqual(gi.shape, input.shape)) {
            throw new TensorError(
              `${node.op.name} (gradient)`,
              `rule returned shape ${fmtShape(gi.shape)} for input ${i} of shape ${fmtShape(input.shape)}`,
            );
          }
          if (input.isLeaf) {
            accumulateLeaf(input, gi, fresh);
            return;
          }
          const prev = grads.get(input);
          grads.set(input, prev ? prev.add(gi) : gi);
        });
      }
    }),
  );
}
