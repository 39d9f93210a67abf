/// <reference types="@webgpu/types" preserve="true" />
import { TensorError } from '../../errors.js';

/** How the WebGPU backend finds its device. */
export interface WebGPUOptions {
  /** Use this device (the backend then neither requests an adapter nor destroys the device). */
  device?: GPUDevice;
  /** Passed to requestAdapter. */
  powerPreference?: GPUPowerPreference;
  /** Milliseconds to wait for requestAdapter / requestDevice before giving up (default 15000). */
  timeoutMs?: number;
  /**
   * Node only: Dawn instance options to try, in order (default: `[[], ['backend=opengles']]`: the
   * platform's native backend, then OpenGL ES, which gives Mesa's llvmpipe on machines without a GPU).
   */
  dawnOptions?: readonly (readonly string[])[];
  /** Bytes of free buffers kept for reuse (default 256 MiB); larger releases are destroyed. */
  poolLimitBytes?: number;
}

export interface AcquiredDevice {
  device: GPUDevice;
  /** What was used, for messages: e.g. 'navigator.gpu' or 'webgpu (Dawn) backend=opengles'. */
  source: string;
  /** Whether the backend owns (and may destroy) the device. */
  owned: boolean;
  /**
   * The GPU (instance) and adapter the device came from. They must stay reachable as long as the
   * device is used: Dawn in Node tears the instance down when its JS object is collected, and the
   * device then crashes the process at random.
   */
  keepAlive?: readonly unknown[];
  /** The adapter's description, where known. */
  info?: GPUAdapterInfo;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

const isNode = (): boolean =>
  typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** The limits worth raising above the defaults (workgroups otherwise cap at 128 in compatibility mode). */
const WANTED_LIMITS = [
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
] as const;

async function deviceFrom(adapter: GPUAdapter, timeoutMs: number): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) {
    const v = adapter.limits[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  return withTimeout(
    adapter.requestDevice({ requiredLimits }),
    timeoutMs,
    'GPUAdapter.requestDevice',
  );
}

async function tryAdapter(
  gpu: GPU,
  opts: WebGPUOptions,
  timeoutMs: number,
  featureLevels: readonly string[],
): Promise<GPUAdapter | null> {
  for (const featureLevel of featureLevels) {
    const request: GPURequestAdapterOptions & { featureLevel?: string } = { featureLevel };
    if (opts.powerPreference) request.powerPreference = opts.powerPreference;
    const adapter = await withTimeout(
      gpu.requestAdapter(request),
      timeoutMs,
      'GPU.requestAdapter',
    ).catch(() => null);
    if (adapter) return adapter;
  }
  return null;
}

interface DawnModule {
  create(options: string[]): GPU;
}

/**
 * Finds a WebGPU device: `navigator.gpu` where it exists (browsers, Deno), otherwise in Node the
 * optional `webgpu` package (Dawn), loaded only now. Every way tried is named in the error when none
 * gives an adapter; requests time out rather than hang.
 */
export async function acquireDevice(opts: WebGPUOptions = {}): Promise<AcquiredDevice> {
  if (opts.device) return { device: opts.device, source: 'given device', owned: false };
  const timeoutMs = opts.timeoutMs ?? 15000;
  const tried: string[] = [];
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) {
    const adapter = await tryAdapter(nav.gpu, opts, timeoutMs, ['core', 'compatibility']);
    if (adapter) {
      const device = await deviceFrom(adapter, timeoutMs);
      return {
        device,
        source: 'navigator.gpu',
        owned: true,
        keepAlive: [nav.gpu, adapter],
        info: adapter.info,
      };
    }
    tried.push('navigator.gpu (no adapter)');
  }
  if (isNode()) {
    let dawn: DawnModule | null = null;
    try {
      // A variable specifier keeps bundlers from pulling the Node addon into browser builds.
      const spec = 'webgpu';
      dawn = (await import(/* @vite-ignore */ spec)) as DawnModule;
    } catch (e) {
      tried.push(
        `the 'webgpu' package (not installed or failed to load: ${(e as Error).message.split('\n')[0]}; install it with \`npm i webgpu\`)`,
      );
    }
    if (dawn) {
      for (const options of opts.dawnOptions ?? [[], ['backend=opengles']]) {
        const label = `webgpu (Dawn)${options.length ? ` ${options.join(' ')}` : ''}`;
        // Mesa's EGL needs no display when told so; only fill it in where the caller did not.
        if (options.includes('backend=opengles') && process.env.EGL_PLATFORM === undefined) {
          process.env.EGL_PLATFORM = 'surfaceless';
        }
        let gpu: GPU;
        try {
          gpu = dawn.create(options.slice());
        } catch (e) {
          tried.push(`${label} (create failed: ${(e as Error).message})`);
          continue;
        }
        const adapter = await tryAdapter(gpu, opts, timeoutMs, ['core', 'compatibility']);
        if (adapter) {
          const device = await deviceFrom(adapter, timeoutMs);
          return {
            device,
            source: label,
            owned: true,
            keepAlive: [gpu, adapter],
            info: adapter.info,
          };
        }
        tried.push(`${label} (no adapter)`);
      }
    }
  }
  if (tried.length === 0) tried.push('navigator.gpu (absent)');
  throw new TensorError(
    'webgpu',
    `no WebGPU adapter found; tried: ${tried.join('; ')}. On Linux without a GPU, Mesa's software ` +
      'adapter needs libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri (and EGL_PLATFORM=surfaceless)',
  );
}
