/**
 * The browser test's CPU page script (bundled by the test with esbuild): the fixture's Aaren forward
 * pass on the CPU backend (WebAssembly SIMD GEMM) and a 192×160×224 matrix product, first on the
 * calling thread, then with 2 threads once the Web Workers are up (only where the page is
 * cross-origin isolated; elsewhere the backend stays on one thread). Leaves the result in
 * `globalThis.recurCpu` (a promise the test awaits).
 */
import { type CpuKernelInfo, cpuKernelInfo, matmul, setNumThreads, tensor } from '@recur/tensor';
import { CPU_PRODUCT, productOperands, smokeForward } from './fixture.js';

export interface CpuResult {
  crossOriginIsolated: boolean;
  info: CpuKernelInfo;
  /** Aaren forward on the CPU in the page. */
  smoke: number[];
  /** The product on one thread, and after the workers started (same kernels). */
  single: number[];
  threaded: number[];
  /** Workers that were ready for `threaded`. */
  workers: number;
}

async function run(): Promise<CpuResult> {
  const smoke = Array.from(smokeForward().dataSync());
  const [m, k, n] = CPU_PRODUCT;
  const { a, b } = productOperands();
  const product = () =>
    Array.from(matmul(tensor(a, { shape: [m, k] }), tensor(b, { shape: [k, n] })).dataSync());
  setNumThreads(1);
  const single = product();
  setNumThreads(2);
  product(); // starts the workers (asynchronously in a browser)
  const deadline = performance.now() + 10_000;
  while (crossOriginIsolated && cpuKernelInfo().workers < 1 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const workers = cpuKernelInfo().workers;
  const threaded = product();
  return { crossOriginIsolated, info: cpuKernelInfo(), smoke, single, threaded, workers };
}

(globalThis as { recurCpu?: Promise<CpuResult> }).recurCpu = run();
