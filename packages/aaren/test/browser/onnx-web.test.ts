/**
 * The exported step graph in a browser: Aaren's step.onnx streamed by onnxruntime-web (its
 * WebAssembly backend, served from node_modules: nothing is downloaded) inside headless Chromium,
 * its state fed back token by token, against recur's forward in Node. Skipped with a message when
 * /usr/bin/chromium is missing, unless RECUR_REQUIRE_BROWSER=1.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { manualSeed, noGrad, randn, stateToJSON, toOnnx } from '@recur/tensor';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aaren } from '../../src/index.js';

const CHROMIUM = process.env.RECUR_CHROMIUM ?? '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  const msg = `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set RECUR_CHROMIUM)`;
  if (process.env.RECUR_REQUIRE_BROWSER === '1') {
    throw new Error(`RECUR_REQUIRE_BROWSER=1 but the browser test cannot run: ${msg}`);
  }
  console.warn(`[recur] skipping the onnxruntime-web browser test: ${msg}`);
}

/** onnxruntime-web's dist folder (its ESM entry and WebAssembly files). */
const ORT_DIST = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));
const D = 8;
const TOKENS = 64;

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>recur onnx</title></head><body><script type="module">
import * as ort from '/ort/ort.wasm.min.mjs';
ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = 1;
const num = (v) => (typeof v === 'string' ? Number(v) : v);
globalThis.recurOnnx = (async () => {
  const bytes = new Uint8Array(await (await fetch('/step.onnx')).arrayBuffer());
  const { init, xs, batch, features } = await (await fetch('/data.json')).json();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  let feeds = {};
  for (const [k, t] of Object.entries(init)) {
    feeds['state.' + k] = new ort.Tensor('float32', Float32Array.from(t.data.map(num)), t.shape);
  }
  const ys = [];
  for (const x of xs) {
    const out = await session.run({ ...feeds, x: new ort.Tensor('float32', Float32Array.from(x), [batch, features]) });
    ys.push(Array.from(out.y.data));
    feeds = {};
    for (const k of Object.keys(init)) feeds['state.' + k] = out['next.' + k];
  }
  return { ys, userAgent: navigator.userAgent };
})();
</script></body></html>`;

function serve(
  files: Record<string, { body: string | Uint8Array; type: string }>,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const file = files[path];
    if (file) {
      res.writeHead(200, { 'content-type': file.type }).end(file.body);
    } else if (path.startsWith('/ort/') && /^[\w.-]+$/.test(path.slice(5))) {
      const p = join(ORT_DIST, path.slice(5));
      if (!existsSync(p)) return void res.writeHead(404).end();
      const type = p.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8';
      res.writeHead(200, { 'content-type': type }).end(readFileSync(p));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe.skipIf(!HAS_CHROMIUM)('Aaren step.onnx in onnxruntime-web, headless Chromium', () => {
  let browser: Browser | undefined;
  let server: Server | undefined;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      timeout: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('streams 64 tokens with its state fed back and matches forward in Node', async () => {
    manualSeed(51);
    const model = new Aaren({ dModel: D, nHeads: 2, nLayers: 2, dFF: 16 });
    noGrad(() => {
      for (const layer of model.layers) layer.attn.q0.assign(layer.attn.q0.mul(150));
    });
    const x = randn([2, TOKENS, D]).mul(3);
    const want = noGrad(() => model.forward(x)).dataSync();
    const xs = Array.from({ length: TOKENS }, (_, t) =>
      Array.from(
        x
          .slice(1, t, t + 1)
          .squeeze(1)
          .dataSync(),
      ),
    );
    const data = { init: stateToJSON(model.initState(2)), xs, batch: 2, features: D };
    server = await serve({
      '/': { body: PAGE, type: 'text/html; charset=utf-8' },
      '/step.onnx': { body: toOnnx(model, { mode: 'step' }), type: 'application/octet-stream' },
      '/data.json': { body: JSON.stringify(data), type: 'application/json' },
    });
    const { port } = server.address() as AddressInfo;
    const page = await (browser as Browser).newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`[page ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[page exception] ${e.message}`));
    let got: { ys: number[][]; userAgent: string };
    try {
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => 'recurOnnx' in globalThis, undefined, { timeout: 20_000 });
      got = await page.evaluate(
        () =>
          (globalThis as { recurOnnx?: Promise<{ ys: number[][]; userAgent: string }> })
            .recurOnnx as Promise<{ ys: number[][]; userAgent: string }>,
      );
    } catch (e) {
      throw new Error(`the page failed: ${(e as Error).message}\n${logs.join('\n')}`);
    } finally {
      await page.close();
    }
    expect(got.userAgent).toMatch(/Chrom/);
    expect(got.ys.length).toBe(TOKENS);
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let t = 0; t < TOKENS; t++) {
      for (let b = 0; b < 2; b++) {
        for (let j = 0; j < D; j++) {
          const g = got.ys[t]?.[b * D + j] as number;
          const w = want[(b * TOKENS + t) * D + j] as number;
          worst = Math.max(worst, Math.abs(g - w) / scale);
        }
      }
    }
    console.log(
      `Aaren step.onnx in onnxruntime-web vs recur: max relative difference ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(1e-4);
  }, 90_000);
});
