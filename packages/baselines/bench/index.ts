/**
 * `pnpm bench`: the cost of one streaming step at position N for a Transformer with a KV cache and
 * for Aaren of the same size (MATH.md §4). The two are timed alternately in one run, so load from
 * other processes hits both alike; ratios are the figures to read, absolute times are notes.
 * `--json` prints one JSON object; `--quick` uses shorter caches. Each timed step advances its
 * stream (the cache is written in place; stepping the same state twice would branch it, which
 * copies), so N grows by the repetitions (80 tokens) during the run. For comparison, the bench also
 * times what a concatenating cache would add per step: one copy of every cached k and v.
 */
import { Aaren } from '@recur/aaren';
import { median } from '@recur/bench';
import {
  concat,
  manualSeed,
  noGrad,
  randn,
  type StreamState,
  stateBytes,
  type Tensor,
  tidy,
} from '@recur/tensor';
import { kvCacheBytes, kvCacheLength, Transformer } from '../src/index.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const lengths = quick ? [256, 1024] : [1024, 4096];
const reps = quick ? 20 : 60;
const warmup = 20;
const config = { nLayers: 2, dModel: 64, nHeads: 4, dFF: 256 };

interface Steppable {
  step(x: Tensor, s: StreamState): { y: Tensor; state: StreamState };
  forwardChunked(x: Tensor, chunk: number, s?: StreamState): { y: Tensor; state: StreamState };
}

manualSeed(0);
const transformer = new Transformer(config).eval();
const aaren = new Aaren(config).eval();
const token = randn([1, config.dModel]);

const models: Steppable[] = [transformer, aaren];
const rows = noGrad(() => {
  // Prefill N tokens in chunks (the state a stream has after N tokens), for every N first.
  const states = lengths.map((n) => {
    const prefix = randn([1, n, config.dModel]);
    return models.map((m) => m.forwardChunked(prefix, 256).state);
  });
  const times = lengths.map(() => models.map((): number[] => []));
  // What a concatenating cache adds per step: one copy of every cached k and v (held tokens only).
  const copyTimes = lengths.map((): number[] => []);
  const concatCache = (state: StreamState) => {
    for (const [key, k] of Object.entries(state)) {
      if (!key.endsWith('.k') && !key.endsWith('.v')) continue;
      const [b, h, , dh] = k.shape as [number, number, number, number];
      const held = k.slice(2, 0, kvCacheLength(state));
      concat([held, randn([b, h, 1, dh])], 2).dataSync();
    }
  };
  // Time token N + 1, round-robin over every (N, model) pair so that load and JIT warm-up hit all alike.
  for (let r = 0; r < reps + warmup; r++) {
    lengths.forEach((_, i) => {
      models.forEach((m, j) => {
        const row = states[i] as StreamState[];
        const t0 = performance.now();
        const next = tidy(() => {
          const out = m.step(token, row[j] as StreamState);
          out.y.dataSync();
          return out.state;
        });
        if (r >= warmup) times[i]?.[j]?.push(performance.now() - t0);
        const held = new Set(Object.values(next));
        for (const t of Object.values(row[j] as StreamState)) if (!held.has(t)) t.dispose();
        row[j] = next;
      });
      const t0 = performance.now();
      tidy(() => concatCache(states[i]?.[0] as StreamState));
      if (r >= warmup) copyTimes[i]?.push(performance.now() - t0);
    });
  }
  return lengths.map((n, i) => {
    const [kvMs, aarenMs] = (times[i] as number[][]).map(median) as [number, number];
    return {
      n,
      kvStepMs: kvMs,
      concatCopyMs: median(copyTimes[i] as number[]),
      aarenStepMs: aarenMs,
      kvOverAaren: kvMs / aarenMs,
      kvStateBytes: kvCacheBytes(states[i]?.[0] as StreamState).used,
      kvAllocatedBytes: kvCacheBytes(states[i]?.[0] as StreamState).allocated,
      aarenStateBytes: stateBytes(states[i]?.[1] as StreamState),
    };
  });
});

const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
const summary = {
  config,
  rows,
  kvGrowth: b.kvStepMs / a.kvStepMs,
  aarenGrowth: b.aarenStepMs / a.aarenStepMs,
  lengthRatio: b.n / a.n,
};
if (json) {
  console.log(JSON.stringify(summary));
} else {
  console.log(
    `one streaming step at position N (nLayers ${config.nLayers}, dModel ${config.dModel}, nHeads ${config.nHeads}, dFF ${config.dFF}, batch 1)`,
  );
  console.log(
    'N       KV step ms  (concat copy ms)  Aaren step ms  KV/Aaren  KV used bytes  Aaren state bytes',
  );
  for (const r of rows) {
    console.log(
      `${String(r.n).padEnd(8)}${r.kvStepMs.toFixed(3).padStart(10)}  ${`(${r.concatCopyMs.toFixed(3)})`.padStart(16)}  ${r.aarenStepMs.toFixed(3).padStart(13)}  ${r.kvOverAaren.toFixed(2).padStart(8)}  ${String(r.kvStateBytes).padStart(13)}  ${String(r.aarenStateBytes).padStart(17)}`,
    );
  }
  console.log(
    `N ×${summary.lengthRatio}: KV step time ×${summary.kvGrowth.toFixed(2)}, Aaren step time ×${summary.aarenGrowth.toFixed(2)}`,
  );
}
