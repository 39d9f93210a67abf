// Child process of stream-memory.test.ts: streams `TOKENS` tokens through a tiny Aaren with the
// README's streaming code, taken verbatim from README.md (its `batch` and `steps` are x's sizes, as
// in the README), and prints memory samples as JSON.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Aaren } from '@recur/aaren';
import { manualSeed, memory, nn, noGrad, randn, type Tensor, tidy } from '@recur/tensor';

const tokens = Number(process.argv[2]);
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const start = readme.indexOf('model.eval();');
const endMarker = 'stream.dispose();';
const end = readme.indexOf(endMarker, start);
if (start < 0 || end < 0)
  throw new Error('README: no streaming loop from model.eval() to stream.dispose()');
const snippet = readme.slice(start, end + endMarker.length);
const dir = mkdtempSync(join(tmpdir(), 'recur-readme-'));
const file = join(dir, 'loop.ts');
writeFileSync(
  file,
  `// biome-ignore-all lint: generated\nexport default function (model: any, x: any, head: any, noGrad: any, tidy: any): number {\nconst [batch, steps] = x.shape;\n${snippet}\nreturn maxDiff;\n}\n`,
);

manualSeed(0);
const model = new Aaren({ nLayers: 1, dModel: 4, nHeads: 1, dFF: 4 });
const linear = new nn.Linear(4, 1);
const x = randn([1, tokens, 4]);
const samples: { t: number; tensors: number; bytes: number; rss: number }[] = [];
let t = 0;
const every = Math.max(1, Math.floor(tokens / 10));
// The loop calls head.forward once per token (rank 2): that is where memory is sampled.
const head = {
  forward(y: Tensor): Tensor {
    if (y.rank !== 2) return linear.forward(y); // the parallel forward, before the loop
    if (t % every === 0 || t === tokens - 1) {
      (globalThis as { gc?: () => void }).gc?.();
      const m = memory().cpu;
      samples.push({
        t,
        tensors: m?.tensors ?? 0,
        bytes: m?.bytes ?? 0,
        rss: process.memoryUsage().rss,
      });
    }
    t++;
    return linear.forward(y);
  },
};
const loop = (await import(pathToFileURL(file).href)).default;
const maxDiff = loop(model, x, head, noGrad, tidy);
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ tokens: t, maxDiff, samples })}\n`);
