/**
 * Every `recur reproduce` experiment at tiny scale (pnpm test:long): it runs to the end on the
 * public data in ../shared/data, writes results.json in the docs' format with every model of the
 * scale on every data set, results.md and results.svg. Skipped with a message when the data is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPERIMENT_NAMES, getExperiment, plan } from '../src/reproduce/experiment.js';
import { recur, SHARED_DATA, tempDir } from './helpers.js';

const present = existsSync(SHARED_DATA);
if (!present)
  console.warn(`[recur cli tests] SKIPPED reproduce --scale tiny: ${SHARED_DATA} is absent`);
const tmp = tempDir('recur-reproduce-long-');
afterAll(() => tmp.cleanup());

describe.skipIf(!present)('recur reproduce <every experiment> --scale tiny', () => {
  for (const name of EXPERIMENT_NAMES) {
    it(name, { timeout: 300_000 }, () => {
      const out = join(tmp.dir, name);
      const r = recur(['reproduce', name, '--scale', 'tiny', '--data', SHARED_DATA, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      expect(results).toMatchObject({ format: 'recur-reproduce', version: 1, complete: true });
      const p = plan(getExperiment(name), 'tiny', undefined, (x) => x);
      expect(results.datasets.map((d: { name: string }) => d.name)).toEqual(
        p.datasets.map((d) => d.name),
      );
      for (const d of results.datasets) {
        expect(d.models.map((m: { model: string }) => m.model)).toEqual(p.models);
        for (const m of d.models) {
          for (const metric of results.experiment.metrics) {
            expect(
              Number.isFinite(m.metrics[metric.name]?.mean),
              `${d.name} ${m.model} ${metric.name}`,
            ).toBe(true);
          }
        }
      }
      expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain(
        `# ${results.experiment.title}`,
      );
      expect(readFileSync(join(out, 'results.svg'), 'utf8').startsWith('<svg')).toBe(true);
    });
  }
});
