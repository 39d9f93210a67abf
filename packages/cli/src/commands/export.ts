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
export async function exportCommand(inv: Invocation, reporter: Reporter): Promise<number> {
  const dir = inv.args[0];
  if (!dir) throw new CliError('missing the run folder: recur export <run-dir> [--out <dir>]');
  const run = readRunConfig(dir, 'recur export');
  const out = inv.options.out ?? join(dir, 'onnx');
  const { model, step, manifest } = exportRun(dir, run);
  const ort = await requireOrt().catch(() => null);
  if (ort) {
    // A graph onnxruntime rejects is a bug here, not a file to hand to the user.
    for (const [name, bytes] of [
      ['model.onnx', model],
      ['step.onnx', step],
    ] as const) {
      const s = await openSession(ort, bytes, 1, name).catch((e: Error) => {
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
  writeFileAtomic(files.model, model);
  writeFileAtomic(files.step, step);
  writeJsonAtomic(files.manifest, manifest);
  reporter.heading(`export · ${run.task} · ${run.model.name}`);
  reporter.print(
    [
      `${files.model}  (${(model.length / 1024).toFixed(1)} KiB: x [batch, tokens, features] → y)`,
      `${files.step}  (${(step.length / 1024).toFixed(1)} KiB: x [batch, features] + state → y + next state)`,
      files.manifest,
    ].join('\n'),
  );
  reporter.result({ event: 'result', command: 'export', run: dir, ...files });
  return 0;
}
