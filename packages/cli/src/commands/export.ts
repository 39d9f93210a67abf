import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Invocation } from '../cli.js';
import { CliError } from '../errors.js';
import { exportRun } from '../onnx/nets.js';
import { openSession, requireOrt } from '../onnx/runtime.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/files.js';
import type { Reporter } from '../util/output.js';
import { readRunConfig } from './train.js';

/**
 * `recur export <run-dir> [--out DIR]`: model.onnx, step.onnx and recur-onnx.json. Everything is
 * built (and, where onnxruntime-node is installed, loaded back) in memory before the first file is
 * written, and each file is written atomically.
 */
export async function exportCommand(
  inv: Invocation<'export'>,
  reporter: Reporter,
): Promise<number> {
  const dir = inv.args[0];
  if (!dir) throw new CliError('missing the run folder: recur export <run-dir> [--out <dir>]');
  const run = readRunConfig(dir, 'recur export');
  const out = inv.options.out ?? join(dir, 'onnx');
  const { model, step, manifest } = exportRun(dir, run, inv.options.externalData);
  const ort = await requireOrt().catch(() => null);
  if (ort) {
    // A graph onnxruntime rejects is a bug here, not a file to hand to the user. (A graph with
    // external data loads only from its path, beside its side file: it is not checked here.)
    for (const [name, files] of [
      ['model.onnx', model],
      ['step.onnx', step],
    ] as const) {
      if (files.data.length > 0) continue;
      const s = await openSession(ort, files.model, 1, name).catch((e: Error) => {
        throw new Error(`recur export wrote a ${name} that onnxruntime rejects: ${e.message}`);
      });
      await s.release();
    }
  }
  const files = {
    model: join(out, 'model.onnx'),
    step: join(out, 'step.onnx'),
    manifest: join(out, 'recur-onnx.json'),
  };
  // Side files first, so a model never refers to one that is not there yet; a stale one goes.
  for (const f of [model, step]) {
    const side = join(out, f.location);
    if (f.data.length > 0) writeFileAtomic(side, f.data);
    else rmSync(side, { force: true });
  }
  writeFileAtomic(files.model, model.model);
  writeFileAtomic(files.step, step.model);
  writeJsonAtomic(files.manifest, manifest);
  const size = (f: typeof model) => {
    const kib = (f.model.length + f.data.reduce((n, p) => n + p.length, 0)) / 1024;
    return f.data.length > 0 ? `${kib.toFixed(1)} KiB with ${f.location}` : `${kib.toFixed(1)} KiB`;
  };
  reporter.heading(`export · ${run.task} · ${run.model.name}`);
  reporter.print(
    [
      `${files.model}  (${size(model)}: x [batch, tokens, features] → y)`,
      `${files.step}  (${size(step)}: x [batch, features] + state → y + next state)`,
      files.manifest,
    ].join('\n'),
  );
  reporter.result({ event: 'result', command: 'export', run: dir, ...files });
  return 0;
}
