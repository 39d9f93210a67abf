import {
  getBackend,
  initBackend,
  type nn,
  setBackend,
  type Tensor,
  type WebGPUBackend,
} from '@recur/tensor';
import { CliError, messageOf } from '../errors.js';
import type { Reporter } from '../util/output.js';

/**
 * Starts the WebGPU backend (Dawn in Node) and returns a one-line description of the adapter, for
 * the user to see what runs their model. No adapter is bad input for `--backend webgpu`: exit 2.
 */
export async function startWebGPU(): Promise<string> {
  try {
    await initBackend('webgpu');
  } catch (e) {
    throw new CliError(
      `--backend webgpu: no WebGPU adapter could be started (${messageOf(e).split('\n')[0]}); use --backend cpu, or see the @recur/tensor README for what Dawn needs (on machines without a GPU: Mesa's libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri and EGL_PLATFORM=surfaceless)`,
    );
  }
  const gpu = getBackend('webgpu') as WebGPUBackend;
  return `${gpu.adapterName} (${gpu.source})`;
}

/** Copies every parameter and buffer of `from` into the same-named ones of `to` (any backends). */
export async function copyWeights(from: nn.Module, to: nn.Module): Promise<void> {
  const target = to.parameters()[0]?.backend.name ?? 'cpu';
  const record: Record<string, Tensor> = {};
  const copies: Tensor[] = [];
  for (const [name, t] of Object.entries(from.stateDict())) {
    const copy = t.backend.name === target ? t : await t.toAsync(target);
    if (copy !== t) copies.push(copy);
    record[name] = copy;
  }
  to.loadStateDict(record);
  for (const c of copies) c.dispose();
}

/**
 * Runs `fn` with `backend` as the default backend: with 'webgpu' the adapter is started and printed
 * first and the CPU is the default again afterwards; with 'cpu' `fn` just runs. `fn` is given what
 * runs it ('cpu', or 'webgpu: ' and the adapter) for the results to record.
 */
export async function onBackend<T>(
  backend: string | undefined,
  reporter: Reporter,
  fn: (runsOn: string) => Promise<T>,
): Promise<T> {
  if (backend !== 'webgpu') return fn('cpu');
  const adapter = await startWebGPU();
  reporter.info(`backend webgpu: ${adapter}`);
  await setBackend('webgpu');
  try {
    return await fn(`webgpu: ${adapter}`);
  } finally {
    await setBackend('cpu');
  }
}
