/**
 * The live demos' Web Worker: picks the backend (WebGPU when navigator.gpu gives an adapter and the
 * page did not force the CPU), runs one demo from core.ts, and posts its progress and result. The
 * page stops a demo by terminating the worker.
 */
import { setBackend } from '@recur/tensor';
import { DEMOS, type DemoName, type DemoSize } from './core.js';
import type { BackendInfo, FromWorker, ToWorker } from './protocol.js';

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);

async function chooseBackend(forceCpu: boolean): Promise<BackendInfo> {
  if (forceCpu) return { name: 'cpu', why: 'the CPU was asked for (?backend=cpu)' };
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { name: 'cpu', why: 'this browser has no WebGPU (navigator.gpu is missing)' };
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { name: 'cpu', why: 'navigator.gpu gave no adapter' };
  await setBackend('webgpu');
  const { vendor, architecture, description } = adapter.info;
  const name = [description, vendor, architecture].filter((s) => s).join(', ') || 'unnamed adapter';
  return { name: 'webgpu', why: `WebGPU adapter: ${name}` };
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const { demo, size, forceCpu } = e.data;
  try {
    const backend = await chooseBackend(forceCpu);
    post({ type: 'backend', backend });
    const result = await DEMOS[demo as DemoName]({
      size: size as DemoSize,
      onProgress: (p) => post({ type: 'progress', progress: p }),
    });
    post({ type: 'done', result });
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
