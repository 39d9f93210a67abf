import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, listing, recurHere, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface Point {
  tokens: number;
  stepMs: number;
  stateBytes: number;
  allocatedBytes: number;
  cumulativeS: number;
}

describe('recur demo, bench and info (built command)', () => {
  it('demo: trains both models, streams them, writes tables, SVG figures and JSON', async () => {
    const out = join(tmp.dir, 'demo');
    const r = await recurHere(['demo', '--steps', '8', '--tokens', '64', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('aaren');
    expect(r.stdout).toContain('transformer');
    expect(r.stdout).toContain('transformer KV cache');
    expect(listing(out)).toEqual([
      'demo-memory.svg',
      'demo-time.svg',
      'demo-training.svg',
      'demo.json',
    ]);
    for (const f of ['demo-memory.svg', 'demo-time.svg', 'demo-training.svg']) {
      const svg = readFileSync(join(out, f), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('aaren');
      expect(svg).toContain('transformer');
    }
    const summary = JSON.parse(readFileSync(join(out, 'demo.json'), 'utf8'));
    const a = summary.models.aaren.stream as Point[];
    const t = summary.models.transformer.stream as Point[];
    // Aaren's state is constant; the KV cache grows linearly with the tokens seen.
    expect(new Set(a.map((p) => p.stateBytes)).size).toBe(1);
    const first = t[0] as Point;
    const last = t[t.length - 1] as Point;
    expect(last.tokens).toBe(64);
    // Used bytes are linear in the tokens: each state also holds the 4-byte position counter of
    // the sinusoidal encodings and each layer's 4-byte cache length.
    const second = t[1] as Point;
    expect(second.tokens).toBe(2);
    const perToken = second.stateBytes - first.stateBytes;
    expect(perToken).toBeGreaterThan(0);
    expect(last.stateBytes - first.stateBytes).toBe(63 * perToken);
    // The cache's capacity (16 tokens, doubling) is reported apart: 64 tokens fill it exactly.
    expect(first.allocatedBytes - first.stateBytes).toBe(15 * perToken);
    expect(last.allocatedBytes).toBe(last.stateBytes);
  });

  it('bench stream --json: step time, state bytes and cumulative time per model', async () => {
    const out = join(tmp.dir, 'bench');
    const r = await recurHere([
      'bench',
      'stream',
      '--tokens',
      '128',
      '--models',
      'aaren,transformer,lstm',
      '--d-model',
      '16',
      '--layers',
      '1',
      '--heads',
      '2',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout) as { models: Record<string, { points: Point[] }> };
    expect(Object.keys(res.models)).toEqual(['aaren', 'transformer', 'lstm']);
    const tokens = (m: string) => res.models[m]?.points.map((p) => p.tokens);
    expect(tokens('aaren')).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    const kv = res.models.transformer?.points as Point[];
    // Used bytes: 128× those after one token, less the layer's 4-byte cache length.
    expect((kv[kv.length - 1] as Point).stateBytes - 4).toBe(
      128 * ((kv[0] as Point).stateBytes - 4),
    );
    // Allocated: a capacity of 16 tokens after one, 128 (full) after 128.
    expect((kv[0] as Point).allocatedBytes - 4).toBe(16 * ((kv[0] as Point).stateBytes - 4));
    expect((kv[kv.length - 1] as Point).allocatedBytes).toBe(
      (kv[kv.length - 1] as Point).stateBytes,
    );
    for (const m of ['aaren', 'lstm']) {
      expect(new Set(res.models[m]?.points.map((p) => p.stateBytes)).size, m).toBe(1);
    }
    expect(listing(out)).toEqual([
      'stream-cumulative.svg',
      'stream-memory.svg',
      'stream-time.svg',
      'stream.json',
    ]);
    const bad = await recurHere(['bench', 'stream', '--models', 'aaren,rwkv']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown value 'rwkv'");
  });

  it("info: parameters (the paper's 1-layer d=512 count), state and FLOPs per token", async () => {
    const size = [
      '--d-model',
      '512',
      '--layers',
      '1',
      '--heads',
      '8',
      '--d-ff',
      '2048',
      '--tokens',
      '300',
    ];
    const a = await recurHere(['info', '--model', 'aaren', ...size, '--json']);
    const t = await recurHere(['info', '--model', 'transformer', ...size, '--json']);
    expect(a.code, a.stderr).toBe(0);
    expect(t.code, t.stderr).toBe(0);
    const ra = lastJson(a.stdout);
    const rt = lastJson(t.stdout);
    // MATH.md §3: 3,152,896 and 3,152,384, plus the stack's final LayerNorm (2 · 512).
    expect(ra.parameters).toBe(3_152_896 + 1024);
    expect(rt.parameters).toBe(3_152_384 + 1024);
    expect(ra.state_bytes_per_token).toBe(0);
    // The KV cache: keys and values of d floats per token.
    expect(rt.state_bytes_per_token).toBe(2 * 512 * 4);
    // Held bytes (not the cache's spare capacity), plus its 4-byte int32 length.
    expect(rt.state_bytes).toBe(300 * 2 * 512 * 4 + 4);
    expect(rt.flops_per_token as number).toBeGreaterThan(ra.flops_per_token as number);
  });

  it('bench ops --quick --json: matmul at 1 and 2 threads, Aaren and MLP steps against JS, scans', async () => {
    const r = await recurHere(['bench', 'ops', '--quick', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout) as {
      runtime: { node: string; kernels: string };
      matmul: { n: number; threads: number; oursGflops: number; jsGflops: number | null }[];
      aarenTrainStep: { tokens: number; ms: number; jsMs: number; gflops: number };
      aarenStreamStep: { msPerToken: number; jsMsPerToken: number };
      scans: unknown[];
      mlpStep: { stepMs: number; jsStepMs: number };
    };
    expect(res.runtime.node).toBe(process.version);
    expect(res.runtime.kernels).toMatch(/^wasm-/);
    const threads = Math.min(2, availableParallelism());
    expect(res.matmul.map((m) => [m.n, m.threads])).toEqual(
      [...new Set([1, threads])].flatMap((t) => [
        [128, t],
        [256, t],
      ]),
    );
    expect(res.matmul.every((m) => m.oursGflops > 0)).toBe(true);
    // The JavaScript kernels are measured once, at the largest size on one thread.
    expect(res.matmul.filter((m) => m.jsGflops !== null).map((m) => [m.n, m.threads])).toEqual([
      [256, 1],
    ]);
    expect(res.aarenTrainStep.tokens).toBe(64);
    expect(res.aarenTrainStep.ms).toBeGreaterThan(0);
    expect(res.aarenTrainStep.jsMs).toBeGreaterThan(0);
    expect(res.aarenStreamStep.msPerToken).toBeGreaterThan(0);
    expect(res.aarenStreamStep.jsMsPerToken).toBeGreaterThan(0);
    expect(res.scans.length).toBe(2);
    expect(res.mlpStep.stepMs).toBeGreaterThan(0);
    expect(res.mlpStep.jsStepMs).toBeGreaterThan(0);
  });
});
