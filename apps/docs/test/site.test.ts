/**
 * End-to-end test of the built site (.vitepress/dist, built by `pnpm build` before this runs) in
 * headless Chromium (Debian's `chromium`, driven with playwright-core, WebGPU on SwiftShader where
 * there is no GPU), served by a plain static file server:
 * - every page reachable from the home page loads with no console error, and every link on it
 *   points at a file that exists (and at an id that exists, for `#anchors`);
 * - each live demo runs to completion at its 'test' size on WebGPU and on the forced CPU fallback,
 *   saying which, with numbers that match the same code run here in Node; Aaren's recurrence
 *   matches its parallel scan to 1e-5; the Stop button stops a running demo;
 * - `vitepress preview` serves the same files.
 * Screenshots of the home page and each finished demo go to test-artifacts/. Skipped with a message
 * when Chromium is missing, unless RECUR_REQUIRE_BROWSER=1, which makes that a failure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AftResult,
  type DemoResult,
  type ParallelResult,
  type RecallResult,
  runAft,
  runParallel,
  runRecall,
} from '../demos/core.js';
import type { DemoState } from '../demos/use-demo.js';
import { serveStatic } from './static-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, '.vitepress', 'dist');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.RECUR_CHROMIUM ?? '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  const msg = `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set RECUR_CHROMIUM)`;
  if (process.env.RECUR_REQUIRE_BROWSER === '1') {
    throw new Error(`RECUR_REQUIRE_BROWSER=1 but the docs' browser test cannot run: ${msg}`);
  }
  console.warn(`[recur] skipping the docs' browser test: ${msg}`);
}

/**
 * Flags that give WebGPU (SwiftShader without a GPU) and keep Chromium off the network.
 *
 * `disable_workgroup_init` turns off Dawn's zero-filling of workgroup memory at the start of each
 * kernel (allowed with --enable-unsafe-webgpu). On SwiftShader that zero-fill made compiling a
 * pipeline with workgroup arrays 5–15× slower (the tiled matmul: 4–6 s each, three variants per
 * demo; the recall demo's 48 pipelines: 21 s → 5 s in Chromium's GPU process). It weakens no
 * check: a kernel that gives Node's numbers without the zero-fill gives them with it, and one that
 * read workgroup memory before writing it would now fail here rather than pass.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-dawn-features=disable_workgroup_init',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const DEMO_PAGES = {
  recall: '/demos/attention-as-rnn.html',
  parallel: '/demos/parallel-recurrent.html',
  aft: '/demos/aft.html',
} as const;
type DemoKey = keyof typeof DEMO_PAGES;

/** Every .html file under `dir`, as paths relative to it. */
function htmlFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.html'))
    .sort();
}

/** The few entities VitePress writes in attribute values. */
const decodeEntities = (s: string) =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');

/** Largest |a − b| over two equal-length arrays (Infinity when a value is not finite). */
function maxDiff(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

describe.skipIf(!HAS_CHROMIUM)('the docs site in headless Chromium', () => {
  let browser: Browser;
  /**
   * One context (profile) for every tab: a fresh context per page (`browser.newPage()`) starts a
   * new renderer with an empty HTTP and code cache each time, which cost about 3× the CPU of the
   * page loads themselves (149 against 57 CPU-seconds for the 43 pages).
   */
  let context: BrowserContext;
  let server: Server;
  let url = '';
  /** The demos at their 'test' size on the CPU here in Node: what the pages must reproduce. */
  let node: { recall: RecallResult; parallel: ParallelResult; aft: AftResult };

  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html'))) {
      throw new Error(`no built site in ${DIST}: run \`pnpm --filter @recur/docs build\` first`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    ({ server, url } = await serveStatic(DIST));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const ctx = { size: 'test' as const, onProgress: () => {} };
    node = {
      recall: await runRecall(ctx),
      parallel: await runParallel(ctx),
      aft: await runAft(ctx),
    };
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  /**
   * A tab that records console errors, uncaught exceptions and failed requests into `errors`
   * (which `visit` empties for each page it loads).
   */
  async function tab(): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    return { page, errors };
  }

  /** Loads `path` in the tab (a full navigation, a new document) with its error list emptied. */
  async function visit(t: { page: Page; errors: string[] }, path: string): Promise<void> {
    t.errors.length = 0;
    const res = await t.page.goto(url + path, { waitUntil: 'load' });
    expect(res?.status(), `${path} status`).toBe(200);
  }

  /** A new tab with `path` loaded, recording its errors. */
  async function open(path: string): Promise<{ page: Page; errors: string[] }> {
    const t = await tab();
    await visit(t, path);
    return t;
  }

  it('every link of every page resolves, to a file and to an anchor', () => {
    // Read from the built HTML (what a crawler or a reader without scripts gets): every page's
    // links, sidebar and navigation included.
    const pages = htmlFiles(DIST);
    const idsOf = new Map<string, Set<string>>();
    const hrefsOf = new Map<string, string[]>();
    for (const page of pages) {
      const html = readFileSync(join(DIST, page), 'utf8');
      idsOf.set(
        `/${page}`,
        new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((m) => decodeEntities(m[1] as string))),
      );
      hrefsOf.set(
        `/${page}`,
        [...html.matchAll(/<a\s[^>]*href="([^"]+)"/g)].map((m) => decodeEntities(m[1] as string)),
      );
    }
    const broken: string[] = [];
    let checked = 0;
    for (const [page, hrefs] of hrefsOf) {
      for (const href of hrefs) {
        const u = new URL(href, `http://site${page}`);
        if (u.origin !== 'http://site') continue;
        checked++;
        let target = decodeURIComponent(u.pathname);
        if (target.endsWith('/')) target += 'index.html';
        if (!existsSync(join(DIST, target))) {
          broken.push(`${page} → ${href} (no file ${target})`);
        } else if (u.hash.length > 1 && target.endsWith('.html')) {
          const id = decodeURIComponent(u.hash.slice(1));
          if (!idsOf.get(target)?.has(id)) broken.push(`${page} → ${href} (no id ${id})`);
        }
      }
    }
    expect(broken, 'broken links').toEqual([]);
    console.log(`docs: ${pages.length} pages, ${checked} links checked`);
    for (const p of [
      ...Object.values(DEMO_PAGES),
      '/api/index.html',
      '/cli/index.html',
      '/reproduce/fig5.html',
    ]) {
      expect(idsOf.has(p), `${p} built`).toBe(true);
    }
  });

  it('every page loads in the browser with no console error', async () => {
    const pages = htmlFiles(DIST).filter((p) => p !== '404.html');
    const failures: string[] = [];
    const queue = [...pages];
    // Two tabs (the test command runs on two cores), each loading its next page as a new document.
    const worker = async () => {
      const t = await tab();
      try {
        for (let page = queue.shift(); page !== undefined; page = queue.shift()) {
          await visit(t, `/${page}`);
          // Hydrated: VitePress's Vue app is mounted on #app (Vue marks its container with the
          // app), over the server-rendered content.
          await t.page.waitForFunction(
            () => (document.querySelector('#app') as { __vue_app__?: unknown } | null)?.__vue_app__,
            null,
            { timeout: 30_000 },
          );
          expect(await t.page.locator('#app .VPContent').count(), `/${page} content`).toBe(1);
          if (page === 'index.html')
            await t.page.screenshot({ path: join(ARTIFACTS, 'home.png'), fullPage: true });
          if (t.errors.length > 0) failures.push(`/${page}: ${t.errors.join('; ')}`);
        }
      } finally {
        await t.page.close();
      }
    };
    await Promise.all([worker(), worker()]);
    expect(failures).toEqual([]);
  }, 180_000);

  /** Runs a demo page to completion and returns its state. */
  async function runDemo(demo: DemoKey, backend: 'webgpu' | 'cpu'): Promise<DemoState<DemoResult>> {
    const query = backend === 'cpu' ? '?size=test&backend=cpu' : '?size=test';
    const { page, errors } = await open(DEMO_PAGES[demo] + query);
    try {
      await page.waitForFunction(
        (d) => (globalThis as { recurDemos?: Record<string, unknown> }).recurDemos?.[d],
        demo,
      );
      await page.click(`[data-demo="${demo}"] [data-action="start"]`);
      await page.waitForFunction(
        (d) => {
          const s = (globalThis as unknown as { recurDemos: Record<string, { status: string }> })
            .recurDemos[d];
          return s?.status !== 'running';
        },
        demo,
        { timeout: 100_000 },
      );
      const state = await page.evaluate(
        (d) =>
          JSON.parse(
            JSON.stringify(
              (globalThis as unknown as { recurDemos: Record<string, unknown> }).recurDemos[d],
            ),
          ),
        demo,
      );
      expect(state.error, `${demo} on ${backend}`).toBe('');
      expect(state.status).toBe('done');
      // The page says which backend it ran on.
      const said = await page.textContent(`[data-demo="${demo}"] .demo-backend`);
      expect(said).toContain(backend === 'webgpu' ? 'WebGPU' : 'the CPU');
      expect(state.backend.name).toBe(backend);
      await page.screenshot({
        path: join(ARTIFACTS, `demo-${demo}-${backend}.png`),
        fullPage: true,
      });
      expect(errors, `console errors on the ${demo} demo`).toEqual([]);
      return state as DemoState<DemoResult>;
    } finally {
      await page.close();
    }
  }

  for (const backend of ['webgpu', 'cpu'] as const) {
    // Float32 on another device sums in another order: WebGPU gets a looser tolerance.
    const tol = backend === 'cpu' ? 1e-4 : 2e-3;

    it(`attention as an RNN on ${backend}: trains, streams, and matches Node`, async () => {
      const got = (await runDemo('recall', backend)).result as RecallResult;
      for (const [i, want] of node.recall.models.entries()) {
        const m = got.models[i] as RecallResult['models'][number];
        expect(m.model).toBe(want.model);
        expect(m.parameters).toBe(want.parameters);
        expect(maxDiff(m.losses, want.losses), `${m.model} losses`).toBeLessThan(tol);
        expect(maxDiff(m.lastScores, want.lastScores), `${m.model} scores`).toBeLessThan(tol * 10);
        // State bytes are exact: constant for Aaren, one key and value row per token for the KV cache.
        expect(m.stream.map((p) => p.stateBytes)).toEqual(want.stream.map((p) => p.stateBytes));
        expect(m.stream.every((p) => p.stepMs > 0)).toBe(true);
      }
      const [aaren, transformer] = got.models as [
        RecallResult['models'][0],
        RecallResult['models'][0],
      ];
      expect(new Set(aaren.stream.map((p) => p.stateBytes)).size).toBe(1);
      const kv = transformer.stream.map((p) => p.stateBytes);
      // Linear in the tokens (plus each layer's 4-byte cache length, a constant).
      const perToken = (kv[1] as number) - (kv[0] as number);
      expect(perToken).toBeGreaterThan(0);
      expect(kv.map((b, i) => b - i * perToken)).toEqual(kv.map(() => kv[0]));
    }, 120_000);

    it(`parallel = recurrent on ${backend}: step matches the scan to 1e-5 at every spread, and Node`, async () => {
      const got = (await runDemo('parallel', backend)).result as ParallelResult;
      expect(got.spreads.map((s) => s.spread)).toEqual(node.parallel.spreads.map((s) => s.spread));
      for (const [i, s] of got.spreads.entries()) {
        expect(s.maxDiff, `spread ×${s.spread}`).toBeLessThanOrEqual(1e-5);
        expect(s.perToken).toHaveLength(got.tokens);
        expect(Number.isFinite(s.maxDiff)).toBe(true);
        const want = node.parallel.spreads[i] as ParallelResult['spreads'][number];
        // Up to ×100 the softmax is smooth in the scores, so the outputs agree across backends.
        if (s.spread <= 100)
          expect(maxDiff(s.lastOutput, want.lastOutput), `output ×${s.spread}`).toBeLessThan(tol);
        expect(s.lastOutput.every(Number.isFinite)).toBe(true);
      }
    }, 120_000);

    it(`AFT on ${backend}: three models train, biases drawn, and match Node`, async () => {
      const got = (await runDemo('aft', backend)).result as AftResult;
      for (const [i, want] of node.aft.models.entries()) {
        const m = got.models[i] as AftResult['models'][number];
        expect(m.model).toBe(want.model);
        expect(maxDiff(m.losses, want.losses), `${m.model} losses`).toBeLessThan(tol);
        if (want.biases) {
          expect(m.biases?.rows).toBe(want.biases.rows);
          expect(
            maxDiff(m.biases?.values ?? [], want.biases.values),
            `${m.model} biases`,
          ).toBeLessThan(tol);
        } else {
          expect(m.biases).toBeNull();
        }
      }
    }, 120_000);
  }

  it('the Stop button stops a running demo', async () => {
    // The full size on the CPU runs for a while: stop it after the first few steps.
    const { page, errors } = await open(`${DEMO_PAGES.aft}?backend=cpu`);
    try {
      await page.waitForFunction(
        () => (globalThis as { recurDemos?: Record<string, unknown> }).recurDemos?.aft,
      );
      await page.click('[data-demo="aft"] [data-action="start"]');
      type S = { recurDemos: Record<string, { status: string; points: unknown[] }> };
      await page.waitForFunction(
        () => ((globalThis as unknown as S).recurDemos.aft?.points.length ?? 0) >= 2,
        null,
        {
          timeout: 30_000,
        },
      );
      await page.click('[data-demo="aft"] [data-action="stop"]');
      const after = await page.evaluate(
        () => (globalThis as unknown as S).recurDemos.aft?.points.length,
      );
      await page.waitForTimeout(1500);
      const later = await page.evaluate(() => {
        const s = (globalThis as unknown as S).recurDemos.aft;
        return { status: s?.status, points: s?.points.length };
      });
      expect(later.status).toBe('stopped');
      expect(later.points).toBe(after);
      expect(await page.textContent('[data-demo="aft"] .demo-status')).toContain('stopped');
      expect(await page.isEnabled('[data-demo="aft"] [data-action="start"]')).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('vitepress preview serves the built site', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const bin = join(ROOT, 'node_modules', '.bin', 'vitepress');
    const child: ChildProcess = spawn(bin, ['preview', '--port', String(port)], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    try {
      const base = `http://localhost:${port}`;
      let ok = false;
      for (let i = 0; i < 100 && !ok; i++) {
        ok = await fetch(`${base}/`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok, 'vitepress preview answered').toBe(true);
      for (const p of [
        '/index.html',
        DEMO_PAGES.recall,
        '/api/index.html',
        '/reproduce/fig5.html',
      ]) {
        expect((await fetch(base + p)).status, p).toBe(200);
      }
    } finally {
      child.kill();
    }
  }, 30_000);
});
