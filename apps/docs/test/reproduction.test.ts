/**
 * The reproduction pages' generator: Fig. 5 from the checked-in demo.json and stream.json, and a
 * table page from a `recur reproduce` results.json (a hand-written fixture in its schema).
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { reproductionPages } from '../scripts/reproduction.js';

const RESULTS = fileURLToPath(new URL('../results', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/reproduce-results.json', import.meta.url));

describe('reproduction pages', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A results folder: the real demo/stream files and sources, plus `reproduce/<name>.json`. */
  function folder(reproduce: Record<string, string>): string {
    dir = mkdtempSync(join(tmpdir(), 'recur-docs-'));
    cpSync(RESULTS, dir, { recursive: true });
    mkdirSync(join(dir, 'reproduce'), { recursive: true });
    const sources = JSON.parse(readFileSync(join(RESULTS, 'sources.json'), 'utf8'));
    for (const [name, text] of Object.entries(reproduce)) {
      writeFileSync(join(dir, 'reproduce', `${name}.json`), text);
      sources[`reproduce/${name}.json`] = { command: `recur reproduce ${name}`, note: 'a fixture' };
    }
    writeFileSync(join(dir, 'sources.json'), JSON.stringify(sources));
    return dir;
  }

  it('writes Fig. 5 from recur demo and bench stream, and a table per results.json', () => {
    const pages = reproductionPages(folder({ fixture: readFileSync(FIXTURE, 'utf8') }));
    // The fixture's page beside one per checked-in results/reproduce/*.json, in name order.
    const checkedIn = existsSync(join(RESULTS, 'reproduce'))
      ? readdirSync(join(RESULTS, 'reproduce'))
          .filter((f) => f.endsWith('.json'))
          .map((f) => `reproduce/${f.replace(/\.json$/, '')}`)
      : [];
    expect(pages.map((p) => p.path)).toEqual([
      'reproduce/index',
      'reproduce/fig5',
      ...['reproduce/fixture', ...checkedIn].sort(),
    ]);
    const fig5 = pages[1]?.markdown ?? '';
    expect(fig5).toContain('recur bench stream --tokens 2048');
    expect(fig5).toContain('<StreamFigure :data="stream" />');
    // The table reads the file: Aaren's state after one token in stream.json is 576 B.
    expect(fig5).toMatch(/\| 1 \| [\d.]+ \| 576 B \|/);
    const table = pages.find((p) => p.path === 'reproduce/fixture')?.markdown ?? '';
    expect(table).toContain('# Fixture: forecasting');
    expect(table).toContain('recur reproduce fixture');
    expect(table).toContain(
      '| aaren | 1234 | 0.500 ± 0.100 | 0.250 ± 0.0500 | 10.000 ± 2.000 | 2 |',
    );
    expect(table).toContain('| transformer | 1300 | 0.550 | 0.300 | 11.000 | 2 |');
    expect(table).toContain(
      'aaren against transformer on mse: 0.500 vs 0.550 (-9.1 %), as good or within the tolerance',
    );
    expect(pages[0]?.markdown).toContain('[Fixture: forecasting](/reproduce/fixture)');
  });

  it('reads every checked-in recur reproduce results.json: its table rows and comparisons', () => {
    const dir = join(RESULTS, 'reproduce');
    if (!existsSync(dir)) return;
    const pages = reproductionPages(RESULTS);
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      const page = pages.find((p) => p.path === `reproduce/${f.replace(/\.json$/, '')}`);
      expect(page?.markdown).toContain(`# ${r.experiment.title}`);
      for (const d of r.datasets) {
        expect(page?.markdown).toContain(`## ${d.name}`);
        for (const m of d.models)
          expect(page?.markdown).toContain(`| ${m.model} | ${m.parameters} |`);
      }
    }
  });

  it('names the file and what it expected when a results.json is not one', () => {
    expect(() => reproductionPages(folder({ broken: '{"format": "other"}' }))).toThrow(
      /broken\.json: expected a results\.json of `recur reproduce`/,
    );
    expect(() => reproductionPages(folder({ bad: '{ not json' }))).toThrow(
      /cannot read .*bad\.json/,
    );
  });
});
