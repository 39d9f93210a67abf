/**
 * Browser smoke test: an Aaren forward pass on WebGPU in headless Chromium (Debian's `chromium`,
 * whose adapter on machines without a GPU is SwiftShader), against the same model on the CPU in
 * Node. The page script (page.ts) is bundled with esbuild, resolving `@recur/*` to their sources
 * through the '@recur/source' condition, served from 127.0.0.1 on an ephemeral port, and driven with
 * playwright-core. Skipped with a message when /usr/bin/chromium is missing, unless
 * RECUR_REQUIRE_BROWSER=1 (CI), which makes that a failure.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuResult } from './cpu-page.js';
import {
  CPU_PRODUCT,
  productOperands,
  SMOKE_INPUT_SHAPE,
  SMOKE_OPTIONS,
  smokeForward,
} from './fixture.js';
import type { SmokeResult } from './page.js';

const CHROMIUM = process.env.RECUR_CHROMIUM ?? '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  const msg = `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set RECUR_CHROMIUM)`;
  if (process.env.RECUR_REQUIRE_BROWSER === '1') {
    throw new Error(`RECUR_REQUIRE_BROWSER=1 but the browser test cannot run: ${msg}`);
  }
  console.warn(`[recur] skipping the browser smoke test: ${msg}`);
}

/** Flags that give WebGPU (SwiftShader without a GPU) and keep Chromium off the network. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const html = (script: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>recur smoke</title></head>
<body><script type="module" src="/${script}"></script></body></html>`;

/** A page script and everything it imports, as one ES module. */
async function bundlePage(file: string): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL(file, import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@recur/source'],
    write: false,
    logLevel: 'silent',
  });
  return (result.outputFiles[0] as { text: string }).text;
}

/** Headers that make a page cross-origin isolated (SharedArrayBuffer, so worker threads). */
const ISOLATED = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

/**
 * Serves the pages and their scripts on 127.0.0.1 (an ephemeral port; a secure context for
 * WebGPU): `/` the WebGPU page, `/cpu` the CPU page, `/cpu-isolated` the CPU page cross-origin
 * isolated.
 */
async function serve(scripts: {
  page: string;
  cpu: string;
}): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const headers = req.url?.startsWith('/cpu-isolated') ? ISOLATED : {};
    const send = (type: string, body: string) =>
      res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, ...headers }).end(body);
    if (req.url === '/' || req.url === '/index.html') {
      send('text/html', html('page.js'));
    } else if (req.url === '/cpu' || req.url === '/cpu-isolated') {
      send('text/html', html(`${req.url.slice(1)}/cpu-page.js`));
    } else if (req.url === '/page.js') {
      send('text/javascript', scripts.page);
    } else if (req.url?.endsWith('/cpu-page.js')) {
      send('text/javascript', scripts.cpu);
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/` };
}

describe.skipIf(!HAS_CHROMIUM)('Aaren in headless Chromium on WebGPU', () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  let url = '';

  beforeAll(async () => {
    const [page, cpu] = await Promise.all([bundlePage('./page.ts'), bundlePage('./cpu-page.ts')]);
    ({ server, url } = await serve({ page, cpu }));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  /** Opens `path`, awaits the promise the page leaves in `globalThis[name]`, and closes it. */
  async function runPage<T>(path: string, name: string): Promise<T> {
    const page = await (browser as Browser).newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`[page ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[page exception] ${e.message}`));
    try {
      await page.goto(new URL(path, url).href);
      await page.waitForFunction((key) => key in globalThis, name, { timeout: 20_000 });
      return await page.evaluate(
        (key) => (globalThis as unknown as Record<string, Promise<T>>)[key] as Promise<T>,
        name,
      );
    } catch (e) {
      throw new Error(`the page failed: ${(e as Error).message}\n${logs.join('\n')}`);
    } finally {
      await page.close();
    }
  }

  it('a forward pass matches the CPU in Node to 1e-4, and the adapter reports itself', async () => {
    const got = await runPage<SmokeResult>('/', 'recurSmoke');
    console.log(
      `Chromium WebGPU: backend source ${got.source}, adapter '${got.adapterName}', info ${JSON.stringify(got.adapterInfo)}`,
    );
    // The backend found its device through navigator.gpu, and the adapter says what it is.
    expect(got.source).toBe('navigator.gpu');
    const info = got.adapterInfo;
    expect(
      [info.vendor, info.architecture, info.device, info.description].some((s) => s.length > 0),
      `adapter info ${JSON.stringify(info)}`,
    ).toBe(true);
    expect(got.userAgent).toMatch(/Chrom/);
    // The same seeded model and input on the CPU, here in Node.
    const want = smokeForward();
    expect(got.shape).toEqual([SMOKE_INPUT_SHAPE[0], SMOKE_INPUT_SHAPE[1], SMOKE_OPTIONS.dModel]);
    expect(want.shape).toEqual(got.shape);
    const w = want.dataSync();
    expect(got.output.length).toBe(w.length);
    let worst = 0;
    for (let i = 0; i < w.length; i++) {
      const err = Math.abs((got.output[i] as number) - (w[i] as number));
      const rel = err / Math.max(1, Math.abs(w[i] as number));
      if (!(rel <= worst)) worst = rel;
    }
    console.log(`Aaren in Chromium vs the CPU in Node: max difference ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
    // Not a constant: the output varies (a broken pass that wrote zeros would match nothing above
    // anyway, but say so plainly).
    expect(Math.max(...w) - Math.min(...w)).toBeGreaterThan(0.1);
  }, 60_000);

  // The CPU backend in the page: WebAssembly SIMD GEMM, one thread unless the page is
  // cross-origin isolated, where Web Workers share the module's memory.
  for (const isolated of [false, true]) {
    it(`the CPU backend (WebAssembly GEMM) matches Node, ${isolated ? 'on 2 threads when cross-origin isolated' : 'on one thread when not isolated'}`, async () => {
      const got = await runPage<CpuResult>(isolated ? '/cpu-isolated' : '/cpu', 'recurCpu');
      console.log(`Chromium CPU backend: ${JSON.stringify(got.info)}`);
      expect(got.crossOriginIsolated).toBe(isolated);
      expect(got.info.active).toMatch(/^wasm-/);
      expect(got.info.threadsSupported).toBe(isolated);
      expect(got.info.threads).toBe(isolated ? 2 : 1);
      expect(got.workers).toBe(isolated ? 1 : 0);
      // Each output element is one thread's, computed in the same order: the same bits.
      expect(got.threaded).toEqual(got.single);
      const [m, k, n] = CPU_PRODUCT;
      const { a, b } = productOperands();
      let worst = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let sum = 0;
          let abs = 0;
          for (let kk = 0; kk < k; kk++) {
            sum += (a[i * k + kk] as number) * (b[kk * n + j] as number);
            abs += Math.abs((a[i * k + kk] as number) * (b[kk * n + j] as number));
          }
          worst = Math.max(
            worst,
            Math.abs((got.single[i * n + j] as number) - sum) / (abs * k * 2 ** -23),
          );
        }
      }
      expect(worst, 'error / (k·2⁻²³·Σ|a||b|)').toBeLessThanOrEqual(1);
      const want = smokeForward().dataSync();
      let smokeWorst = 0;
      for (let i = 0; i < want.length; i++) {
        smokeWorst = Math.max(smokeWorst, Math.abs((got.smoke[i] as number) - (want[i] as number)));
      }
      expect(smokeWorst).toBeLessThan(1e-5);
    }, 60_000);
  }
});
