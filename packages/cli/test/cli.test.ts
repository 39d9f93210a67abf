import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  COMMAND_NAMES,
  COMMANDS,
  descriptionOf,
  OPTIONS,
  type OptionSpec,
  optionsOf,
  TASKS,
} from '../src/options.js';
import { listing, recur, recurHere, tempDir, writeSeriesCsv } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('recur (the built command): help, flags and errors', () => {
  it('leads every command help with its examples, and lists every option of the table', async () => {
    for (const name of COMMAND_NAMES) {
      const r = await recurHere([...name.split(' '), '--help']);
      expect(r.code, name).toBe(0);
      const examples = r.stdout.indexOf('Examples:');
      const usage = r.stdout.indexOf('Usage:');
      expect(examples, name).toBeGreaterThanOrEqual(0);
      expect(examples, name).toBeLessThan(usage);
      for (const e of COMMANDS[name].examples) expect(r.stdout, name).toContain(e);
      for (const [, spec] of optionsOf(name))
        expect(r.stdout, `${name} ${spec.flag}`).toContain(spec.flag);
    }
  });

  it("train <task> --help lists only the options that task uses; another task's option is exit 2", async () => {
    for (const task of TASKS) {
      const r = await recurHere(['train', task, '--help']);
      expect(r.code, task).toBe(0);
      const mine = new Set(optionsOf('train', task).map(([k]) => k));
      expect(mine.size, task).toBeLessThan(optionsOf('train').length);
      for (const [key, spec] of optionsOf('train')) {
        // A flag followed by a space or a value placeholder (--test is not --test-…).
        const listed = new RegExp(`\\s${spec.flag}[ ,]`).test(r.stdout);
        expect(listed, `${task} ${spec.flag}`).toBe(mine.has(key));
      }
    }
    const r = await recurHere([
      'train',
      'classify',
      '--model',
      'gru',
      '--data',
      'x',
      '--horizon',
      '5',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--horizon is an option of the forecast task');
  });

  it("writes shared options' help per command (--out of bench ops is not a run folder)", async () => {
    const out = OPTIONS.out as OptionSpec;
    for (const name of out.commands) {
      const r = await recurHere([...name.split(' '), '--help']);
      expect(r.stdout.replace(/\s+/g, ' '), name).toContain(
        descriptionOf(out, name).replace(/\s+/g, ' ').slice(0, 40),
      );
    }
    expect((await recurHere(['bench', 'ops', '--help'])).stdout).not.toContain('run folder');
  });

  it('prints the top-level help (with examples) and exits 2 when no command is given', () => {
    const r = recur([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Examples:');
    expect(r.stderr).toContain('train');
  });

  it('rejects an unknown flag with exit code 2, naming it and suggesting the right one', () => {
    const r = recur(['train', 'forecast', '--model', 'naive', '--data', 'x.csv', '--d-modl', '3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--d-modl'");
    expect(r.stderr).toContain('--d-model');
  });

  it('rejects an unknown model, a bad number and an unknown task with exit code 2', async () => {
    let r = await recurHere(['train', 'forecast', '--model', 'mamba', '--data', 'x.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--model');
    expect(r.stderr).toContain("unknown value 'mamba'");
    r = await recurHere([
      'train',
      'forecast',
      '--model',
      'naive',
      '--data',
      'x.csv',
      '--horizon',
      'ten',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--horizon');
    expect(r.stderr).toContain("expected an integer, got 'ten'");
    r = await recurHere(['train', 'forecast', '--model', 'naive', '--data', 'x.csv', '--lr', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--lr');
    r = await recurHere(['train', 'translate', '--model', 'aaren', '--data', 'x.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown task 'translate'");
  });

  it('reports a missing data file with exit code 2 and writes nothing', () => {
    const out = join(tmp.dir, 'missing-run');
    const r = recur([
      'train',
      'forecast',
      '--model',
      'naive',
      '--data',
      join(tmp.dir, 'nope.csv'),
      '--out',
      out,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such file');
    expect(r.stderr).toContain('nope.csv');
    expect(listing(out)).toEqual([]);
  });

  it('reads options from --config, command-line flags winning, and rejects unknown keys', () => {
    const csv = join(tmp.dir, 'series.csv');
    writeSeriesCsv(csv, 300, 2);
    const cfg = join(tmp.dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ lookback: 24, horizon: 12, model: 'naive' }));
    const r = recur([
      'train',
      'forecast',
      '--data',
      csv,
      '--config',
      cfg,
      '--horizon',
      '6',
      '--out',
      join(tmp.dir, 'cfg-run'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const start = JSON.parse(r.stdout.split('\n')[0] as string);
    expect(start.model).toBe('naive');
    const saved = JSON.parse(readFileSync(join(tmp.dir, 'cfg-run', 'config.json'), 'utf8'));
    expect(saved.taskConfig.lookback).toBe(24);
    expect(saved.taskConfig.horizon).toBe(6);
    writeFileSync(cfg, JSON.stringify({ lookback: 24, 'learning-rate': 1 }));
    const bad = recur([
      'train',
      'forecast',
      '--model',
      'naive',
      '--data',
      csv,
      '--config',
      cfg,
      '--out',
      join(tmp.dir, 'cfg-bad'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown option 'learning-rate'");
    expect(listing(join(tmp.dir, 'cfg-bad'))).toEqual([]);
  });

  it('keeps every option in one table with a flag, a kind, a description and its commands', () => {
    for (const [key, spec] of Object.entries(OPTIONS)) {
      expect(spec.flag, key).toMatch(/^--[a-z][a-z-]*$/);
      expect(spec.description.length, key).toBeGreaterThan(10);
      expect(spec.commands.length, key).toBeGreaterThan(0);
    }
  });

  it('prints its version', () => {
    const r = recur(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
