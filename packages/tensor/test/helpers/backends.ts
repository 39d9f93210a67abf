/**
 * Running one suite on every backend.
 *
 * `BACKENDS` is 'cpu' plus 'webgpu' when a WebGPU adapter can be had (in Node: the `webgpu` package,
 * with Mesa's llvmpipe on machines without a GPU; see the README). Without one the webgpu runs are
 * skipped with a visible message, unless RECUR_REQUIRE_WEBGPU=1, which makes a missing adapter fail
 * the run. `describeBackends(name, body)` declares `name [cpu]`, `name [webgpu]`, … with the default
 * backend set for each, so tests create tensors with the plain creation functions and read them
 * with `await t.data()` (helpers in assert.ts do).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { initBackend, setBackend } from '../../src/index.js';

export type BackendName = 'cpu' | 'webgpu';

async function probe(): Promise<BackendName[]> {
  const out: BackendName[] = ['cpu'];
  const only = process.env.RECUR_BACKENDS?.split(',').map((s) => s.trim());
  if (only && !only.includes('webgpu')) return only.includes('cpu') ? out : [];
  try {
    await initBackend('webgpu');
    out.push('webgpu');
  } catch (e) {
    const msg = (e as Error).message;
    if (process.env.RECUR_REQUIRE_WEBGPU === '1') {
      throw new Error(`RECUR_REQUIRE_WEBGPU=1 but the webgpu backend did not start: ${msg}`);
    }
    if (!warned) {
      warned = true;
      console.warn(`[recur] skipping the webgpu runs of the op suites: ${msg}`);
    }
  }
  if (only) return out.filter((b) => only.includes(b));
  return out;
}
let warned = false;

/** Backends to run on: 'cpu', and 'webgpu' where an adapter exists (RECUR_BACKENDS=a,b narrows). */
export const BACKENDS: readonly BackendName[] = await probe();

/** Whether the webgpu backend is available in this run. */
export const HAS_WEBGPU = BACKENDS.includes('webgpu');

/**
 * Declares `body` once per backend, inside `describe('<name> [<backend>]')`, with that backend as
 * the default for tensors created in it. A backend that is not available shows up as one skipped
 * test, so the skip is visible in the report.
 */
export function describeBackends(
  name: string,
  body: (backend: BackendName) => void,
  only: readonly BackendName[] = ['cpu', 'webgpu'],
): void {
  for (const backend of only) {
    if (!BACKENDS.includes(backend)) {
      describe(`${name} [${backend}]`, () => {
        it.skip(`${backend} backend unavailable (see RECUR_REQUIRE_WEBGPU)`, () => {});
      });
      continue;
    }
    describe(`${name} [${backend}]`, () => {
      beforeAll(() => setBackend(backend));
      afterAll(() => setBackend('cpu'));
      body(backend);
    });
  }
}
