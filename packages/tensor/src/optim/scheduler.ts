import { TensorError } from '../errors.js';
import type { GroupHyper, Optimizer } from './optimizer.js';

/**
 * A scheduler's checkpoint ({@link LRScheduler.stateDict}): the steps taken and each group's base
 * lr.
 */
export interface LRSchedulerStateDict {
  lastEpoch: number;
  baseLrs: number[];
}

/**
 * Sets each parameter group's lr from a closed-form schedule of the step count. Built at step 0 (it
 * sets the step-0 lr at once); call step() after each optimiser.step(), as in PyTorch.
 */
export abstract class LRScheduler {
  readonly optimizer: Optimizer<GroupHyper>;
  /** Each group's lr when the schedule started (the group's initialLr, set on first use). */
  readonly baseLrs: number[];
  /** Scheduler steps taken so far. */
  lastEpoch = 0;
  private lastLrs: number[] = [];

  constructor(optimizer: Optimizer<GroupHyper>) {
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) {
      throw new TensorError(this.constructor.name, 'expected an Optimizer');
    }
    this.optimizer = optimizer;
    this.baseLrs = optimizer.paramGroups.map((g) => {
      if (g.initialLr === undefined) g.initialLr = g.lr;
      return g.initialLr;
    });
  }

  /** The lr of a group with base lr `baseLr` after `step` scheduler steps. */
  abstract lrAt(step: number, baseLr: number): number;

  /** Applies the lr for the current step; subclasses call it at the end of their constructor. */
  protected apply(): void {
    this.lastLrs = this.optimizer.paramGroups.map((g, i) => {
      const lr = this.lrAt(this.lastEpoch, this.baseLrs[i]!);
      g.lr = lr;
      return lr;
    });
  }

  /** Advances one step and sets the groups' lr. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The lr of each group as last set. */
  getLastLr(): number[] {
    return this.lastLrs.slice();
  }

  /**
   * The steps taken and the base lrs, for checkpoints (as PyTorch's `state_dict`); see {@link
   * LRScheduler.loadStateDict}.
   */
  stateDict(): LRSchedulerStateDict {
    return { lastEpoch: this.lastEpoch, baseLrs: this.baseLrs.slice() };
  }

  /**
   * Resumes from {@link LRScheduler.stateDict}'s output and sets each group's lr for that step.
   * Throws when lastEpoch is not a non-negative integer or the number of base lrs differs from the
   * number of groups.
   */
  loadStateDict(state: LRSchedulerStateDict): void {
    const name = `${this.constructor.name}.loadStateDict`;
    if (!state || !Number.isInteger(state.lastEpoch) || state.lastEpoch < 0) {
      throw new TensorError(
        name,
        `expected a non-negative integer lastEpoch, got ${String(state?.lastEpoch)}`,
      );
    }
    if (!Array.isArray(state.baseLrs) || state.baseLrs.length !== this.baseLrs.length) {
      throw new TensorError(
        name,
        `expected ${this.baseLrs.length} base lr(s), got ${JSON.stringify(state.baseLrs)}`,
      );
    }
    this.lastEpoch = state.lastEpoch;
    this.baseLrs.splice(0, this.baseLrs.length, ...state.baseLrs);
    this.apply();
  }
}

/** lr = base · gamma^⌊step / stepSize⌋ (torch.optim.lr_scheduler.StepLR). */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer<GroupHyper>, options: { stepSize: number; gamma?: number }) {
    super(optimizer);
    const { stepSize, gamma = 0.1 } = options ?? ({} as { stepSize: number });
    if (!Number.isInteger(stepSize) || stepSize < 1) {
      throw new TensorError('StepLR', `expected an integer stepSize >= 1, got ${String(stepSize)}`);
    }
    if (!(gamma >= 0)) throw new TensorError('StepLR', `expected gamma >= 0, got ${gamma}`);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.apply();
  }

  lrAt(step: number, baseLr: number): number {
    return baseLr * this.gamma ** Math.floor(step / this.stepSize);
  }
}

/**
 * Linear warm-up from 0 to the base lr over warmupSteps, then a half cosine down to minLr at
 * totalSteps, and minLr after: lr(s) = base·s/w for s < w, else
 * minLr + (base − minLr)·(1 + cos(π·min(1, (s − w)/(T − w))))/2.
 */
export class LinearWarmupCosine extends LRScheduler {
  readonly warmupSteps: number;
  readonly totalSteps: number;
  readonly minLr: number;

  constructor(
    optimizer: Optimizer<GroupHyper>,
    options: { warmupSteps: number; totalSteps: number; minLr?: number },
  ) {
    super(optimizer);
    const {
      warmupSteps,
      totalSteps,
      minLr = 0,
    } = options ?? ({} as { warmupSteps: number; totalSteps: number });
    if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
      throw new TensorError(
        'LinearWarmupCosine',
        `expected an integer warmupSteps >= 0, got ${String(warmupSteps)}`,
      );
    }
    if (!Number.isInteger(totalSteps) || totalSteps < warmupSteps) {
      throw new TensorError(
        'LinearWarmupCosine',
        `expected an integer totalSteps >= warmupSteps (${warmupSteps}), got ${String(totalSteps)}`,
      );
    }
    if (!(minLr >= 0))
      throw new TensorError('LinearWarmupCosine', `expected minLr >= 0, got ${minLr}`);
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.minLr = minLr;
    this.apply();
  }

  lrAt(step: number, baseLr: number): number {
    if (step < this.warmupSteps) return (baseLr * step) / this.warmupSteps;
    const span = this.totalSteps - this.warmupSteps;
    const progress = span === 0 ? 1 : Math.min(1, (step - this.warmupSteps) / span);
    return this.minLr + ((baseLr - this.minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  }
}

/** lr = base · factor(step) for any function (torch.optim.lr_scheduler.LambdaLR). */
export class LambdaLR extends LRScheduler {
  /**
   * The multiplier of each group's base lr as a function of the scheduler step: lr = base ·
   * factor(step).
   */
  readonly factor: (step: number) => number;

  constructor(optimizer: Optimizer<GroupHyper>, factor: (step: number) => number) {
    super(optimizer);
    if (typeof factor !== 'function')
      throw new TensorError('LambdaLR', `expected a function, got ${typeof factor}`);
    this.factor = factor;
    this.apply();
  }

  lrAt(step: number, baseLr: number): number {
    return baseLr * this.factor(step);
  }
}
