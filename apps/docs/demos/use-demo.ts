/**
 * A demo's run in the page: starts the worker, keeps its backend, progress, streamed points and
 * result in reactive state, and stops it (terminates the worker). `?backend=cpu` forces the CPU
 * fallback and `?size=test` picks the tiny size the end-to-end test uses. Each demo's state is also
 * published on `window.recurDemos[name]` for that test.
 */
import { reactive } from 'vue';
import type { DemoName, DemoResult, Progress } from './core.js';
import type { BackendInfo, FromWorker, ToWorker } from './protocol.js';

export type DemoStatus = 'idle' | 'running' | 'done' | 'stopped' | 'error';

export interface DemoState<R> {
  status: DemoStatus;
  backend: BackendInfo | null;
  progress: Progress | null;
  /** Every progress point so far, for live plots. */
  points: Record<string, number | string>[];
  result: R | null;
  error: string;
  seconds: number;
}

export function useDemo<R extends DemoResult>(demo: DemoName) {
  const state = reactive<DemoState<R>>({
    status: 'idle',
    backend: null,
    progress: null,
    points: [],
    result: null,
    error: '',
    seconds: 0,
  }) as DemoState<R>;
  let worker: Worker | null = null;
  let started = 0;

  const publish = () => {
    const w = window as unknown as { recurDemos?: Record<string, unknown> };
    w.recurDemos ??= {};
    w.recurDemos[demo] = state;
  };

  function stopWorker() {
    worker?.terminate();
    worker = null;
    state.seconds = (performance.now() - started) / 1e3;
  }

  function start() {
    stopWorker();
    const params = new URLSearchParams(location.search);
    Object.assign(state, {
      status: 'running',
      backend: null,
      progress: null,
      points: [],
      result: null,
      error: '',
    });
    started = performance.now();
    worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (state.status !== 'running') return;
      if (m.type === 'backend') state.backend = m.backend;
      else if (m.type === 'progress') {
        state.progress = m.progress;
        if (m.progress.point) state.points.push(m.progress.point);
      } else if (m.type === 'done') {
        state.result = m.result as R;
        state.status = 'done';
        stopWorker();
      } else {
        state.error = m.message;
        state.status = 'error';
        stopWorker();
      }
    };
    worker.onerror = (e) => {
      state.error = e.message || 'the demo worker failed to start';
      state.status = 'error';
      stopWorker();
    };
    const message: ToWorker = {
      demo,
      size: params.get('size') === 'test' ? 'test' : 'full',
      forceCpu: params.get('backend') === 'cpu',
    };
    worker.postMessage(message);
    publish();
  }

  function stop() {
    if (state.status !== 'running') return;
    stopWorker();
    state.status = 'stopped';
  }

  return { state, start, stop, publish };
}
