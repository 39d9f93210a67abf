// The README's example, kept here so it is type-checked.
import { attentionScan, defineOperator, linearRecurrence, scan } from '@recur/scan';
import { manualSeed, randn } from '@recur/tensor';

manualSeed(0);
// Causal softmax attention of one query per head as a prefix scan: out[t] = Σ_{i≤t} softmax(s)_i v_i.
const scores = randn([2, 4, 1000]).mul(50); // [batch, heads, T], spread over ±150
const values = randn([2, 4, 1000, 16]); // [batch, heads, T, d]
const whole = attentionScan(scores, values);

// The same in two pieces: the carry (m, u, w) is all the state a stream needs.
const first = attentionScan(scores.slice(-1, 0, 600), values.slice(-2, 0, 600));
const rest = attentionScan(scores.slice(-1, 600), values.slice(-2, 600), { carry: first.carry });
console.log('pieces = whole:', rest.out.sub(whole.out.slice(-2, 600)).abs().max().item() < 1e-5);

// h_t = a_t h_{t-1} + b_t over axis 1, with the Blelloch tree algorithm.
const a = randn([3, 64, 8]).sigmoid();
const b = randn([3, 64, 8]);
const [, h] = scan(linearRecurrence, [a, b], { axis: 1, algorithm: 'tree' }).outputs;
console.log('h:', h?.shape);

// Any associative operator: 2×2 matrix products (not commutative) over tuples of entries.
const matmul2 = defineOperator({
  name: 'matmul2x2',
  arity: 4,
  identity: [1, 0, 0, 1],
  combine: ([a11, a12, a21, a22], [b11, b12, b21, b22]) => [
    a11.mul(b11).add(a12.mul(b21)),
    a11.mul(b12).add(a12.mul(b22)),
    a21.mul(b11).add(a22.mul(b21)),
    a21.mul(b12).add(a22.mul(b22)),
  ],
});
const entries = [0, 1, 2, 3].map(() => randn([5, 10]).mul(0.5));
const { carry } = scan(matmul2, entries, { algorithm: 'tree' });
console.log('entry (1, 1) of the product, for each of 5 sequences:', carry[0]?.arraySync());
