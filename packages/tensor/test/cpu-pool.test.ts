import { describe, expect, it } from 'vitest';
import { cpuPoolBytes, full, setCpuPoolLimit, tidy, zeros } from '../src/index.js';

describe('CPU buffer pool', () => {
  it('reuses released large buffers, zero-filled, and respects its limit', () => {
    const n = 1 << 18; // 1 MiB of float32
    // Start from an empty pool: files that ran before in this worker may have left it near its limit.
    setCpuPoolLimit(0);
    setCpuPoolLimit(512 * 2 ** 20);
    const before = cpuPoolBytes();
    expect(before).toBe(0);
    tidy(() => {
      full([n], 7);
    });
    expect(cpuPoolBytes()).toBe(before + 4 * n);
    // A kernel that relies on zero-initialised output (pad writes only the interior).
    const padded = tidy(() => full([n - 2], 3).pad([[1, 1]]));
    // The pad output took the pooled buffer; its input went back to the pool.
    expect(cpuPoolBytes()).toBe(before + 4 * (n - 2));
    const data = padded.dataSync();
    expect([data[0], data[1], data[n - 2], data[n - 1]]).toEqual([0, 3, 3, 0]);
    padded.dispose();
    setCpuPoolLimit(0);
    expect(cpuPoolBytes()).toBe(0);
    zeros([n]).dispose();
    expect(cpuPoolBytes()).toBe(0);
    setCpuPoolLimit(512 * 2 ** 20);
  });
});
