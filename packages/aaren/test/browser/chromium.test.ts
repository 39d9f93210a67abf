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
import { SMOKE_INPUT_SHAPE, SMOKE_OPTIONS, smokeForward } from './fixture.js';
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

const HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>recur smoke</title></head>
<body><script type="module" src="/page.js"></script></body></html>`;

/** The page script and everything it imports, as one ES module. */
async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./page.ts', import.meta.url))],
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

/** Serves the page and its script on 127.0.0.1 (an ephemeral port); a secure context for WebGPU. */
async function serve(script: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(HTML);
    } else if (req.url === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
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
    const script = await bundlePage();
    ({ server, url } = await serve(script));
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

  it('a forward pass matches the CPU in Node to 1e-4, and the adapter reports itself', async () => {
    const page = await (browser as Browser).newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`[page ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[page exception] ${e.message}`));
    let got: SmokeResult;
    try {
      await page.goto(url);
      await page.waitForFunction(() => 'recurSmoke' in globalThis, undefined, { timeout: 20_000 });
      got = await page.evaluate(
        () =>
          (globalThis as { recurSmoke?: Promise<SmokeResult> }).recurSmoke as Promise<SmokeResult>,
      );
    } catch (e) {
      throw new Error(`the page failed: ${(e as Error).message}\n${logs.join('\n')}`);
    } finally {
      await page.close();
    }
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
});
