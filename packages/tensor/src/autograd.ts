import { keep, noGrad, tidy } from './engine.js';
import { fmtShape, TensorError } from './errors.js';
import { onesLike } from './ops/creation.js';
import { shapesEqual } from './shape.js';
import type { Tensor } from './tensor.js';

/** Tensors reachable from `root` through ops that need gradients, inputs before outputs. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>([root]);
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as [Tensor, number];
    const [t, i] = top;
    const inputs = t.gradNode?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const child = inputs[i] as Tensor;
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

/**
 * Reverse-mode differentiation from `root`. Gradient rules run without recording (no higher-order
 * gradients) inside a scope that disposes every intermediate; only the leaves' `.grad` survive.
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
  const order = topoOrder(root);
  tidy(() =>
    noGrad(() => {
      const grads = new Map<Tensor, Tensor>([[root, grad ?? onesLike(root)]]);
      for (let k = order.length - 1; k >= 0; k--) {
        const t = order[k] as Tensor;
        const g = grads.get(t);
        if (!g) continue;
        grads.delete(t);
        const node = t.gradNode;
        if (!node) {
          t.grad = keep(t.grad ? t.grad.add(g) : g);
          continue;
        }
        const inputGrads =
          node.op.grad?.(g, { inputs: node.inputs, output: t, attrs: node.attrs }) ?? [];
        node.inputs.forEach((input, i) => {
          const gi = inputGrads[i];
          if (!gi || !input.requiresGrad) return;
          if (!shapesEqual(gi.shape, input.shape)) {
            throw new TensorError(
              `${node.op.name} (gradient)`,
              `rule returned shape ${fmtShape(gi.shape)} for input ${i} of shape ${fmtShape(input.shape)}`,
            );
          }
          const prev = grads.get(input);
          grads.set(input, prev ? prev.add(gi) : gi);
        });
      }
    }),
  );
}
