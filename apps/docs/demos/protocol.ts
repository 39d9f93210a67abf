/** Messages between a demo component and the demo worker. */
import type { DemoName, DemoResult, DemoSize, Progress } from './core.js';

export interface ToWorker {
  demo: DemoName;
  size: DemoSize;
  forceCpu: boolean;
}

export interface BackendInfo {
  name: 'webgpu' | 'cpu';
  /** Why this backend, in words for the page. */
  why: string;
}

export type FromWorker =
  | { type: 'backend'; backend: BackendInfo }
  | { type: 'progress'; progress: Progress }
  | { type: 'done'; result: DemoResult }
  | { type: 'error'; message: string };
