/**
 * The browser smoke test's page script (bundled by the test with esbuild): runs the fixture's Aaren
 * forward pass on the webgpu backend through `navigator.gpu`, and leaves the result, with what the
 * adapter reports about itself, in `globalThis.recurSmoke` (a promise the test awaits).
 */
import { getBackend, setBackend, type WebGPUBackend } from '@recur/tensor';
import { smokeForward } from './fixture.js';

export interface SmokeResult {
  output: number[];
  shape: number[];
  /** Where the backend found its device ('navigator.gpu' in a browser). */
  source: string;
  /** The backend's adapter name. */
  adapterName: string;
  /** What a separate `navigator.gpu.requestAdapter()` reports. */
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  userAgent: string;
}

async function run(): Promise<SmokeResult> {
  const gpu = navigator.gpu;
  if (!gpu) throw new Error('navigator.gpu is missing: this browser has no WebGPU');
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() gave no adapter');
  const { vendor, architecture, device, description } = adapter.info;
  await setBackend('webgpu');
  const backend = getBackend('webgpu') as WebGPUBackend;
  const y = smokeForward();
  if (y.backend.name !== 'webgpu') throw new Error(`the output lives on ${y.backend.name}`);
  const output = Array.from(await y.data());
  return {
    output,
    shape: [...y.shape],
    source: backend.source,
    adapterName: backend.adapterName,
    adapterInfo: { vendor, architecture, device, description },
    userAgent: navigator.userAgent,
  };
}

(globalThis as { recurSmoke?: Promise<SmokeResult> }).recurSmoke = run();
