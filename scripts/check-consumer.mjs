#!/usr/bin/env node
// Packaging check, as a user of the published packages sees them: packs every public package,
// lints each tarball (publint --strict, arethetypeswrong's ESM-only profile), and unpacks the
// tarballs into a fresh project outside the repository (offline), then
// - type-checks a TypeScript file that imports every package under `moduleResolution` node16 and
//   bundler with `skipLibCheck: false` (the published .d.ts must compile on their own),
// - loads every package with `import` from an .mjs file and with `require` from a .cjs file
//   (Node >= 20.19 loads ES modules through require), and
// - runs every self-contained code example of every package README (a block that imports a
//   `@recur/` package) as an .mjs file: what a user pastes into `example.mjs` must run.
// Needs the packages built (turbo runs `build` first). Exits non-zero with tsc's or node's output.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { checkPackage, createPackageFromTarballData } from '@arethetypeswrong/core';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = resolve(import.meta.dirname, '..');
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const packages = readdirSync(join(root, 'packages'))
  .map((dir) => ({ dir: join(root, 'packages', dir) }))
  .map((p) => ({ ...p, pkg: JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8')) }))
  .filter((p) => !p.pkg.private);

// pnpm runs this script with npm_execpath pointing at its own entry; outside pnpm, npx fetches it.
const pnpm = (args, cwd) => {
  const execPath = process.env.npm_execpath;
  const [cmd, argv] =
    execPath && /pnpm/.test(execPath)
      ? [process.execPath, [execPath, ...args]]
      : ['npx', ['-y', rootPkg.packageManager, ...args]];
  return execFileSync(cmd, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
};
const run = (what, cmd, args, cwd) => {
  try {
    execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    process.stderr.write(`consumer check failed: ${what}\n${e.stdout ?? ''}${e.stderr ?? ''}\n`);
    process.exitCode = 1;
    return false;
  }
  console.log(`ok: ${what}`);
  return true;
};

/** Records a failed check with its findings, or says it passed. */
const report = (what, problems) => {
  if (problems.length === 0) {
    console.log(`ok: ${what}`);
    return;
  }
  process.stderr.write(`consumer check failed: ${what}\n${problems.join('\n')}\n`);
  process.exitCode = 1;
};
const IGNORED_RESOLUTIONS = new Set(['node10', 'node16-cjs']);

const tmp = mkdtempSync(join(tmpdir(), 'recur-consumer-'));
try {
  const tarballs = join(tmp, 'tarballs');
  mkdirSync(tarballs);
  const files = {};
  for (const { dir, pkg } of packages) {
    const out = pnpm(['pack', '--pack-destination', tarballs], dir).trim().split('\n');
    files[pkg.name] = out[out.length - 1].trim();
  }
  // Each tarball as the registry would get it: publint (strict: warnings fail too) and
  // arethetypeswrong, under the ESM-only profile (node10 and CommonJS-from-node16 resolution are
  // not supported, so not checked). Both read the tarball packed above, in this one process.
  for (const { pkg } of packages) {
    const data = readFileSync(files[pkg.name]);
    const tarball = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const { messages, pkg: manifest } = await publint({
      pkgDir: 'package', // the folder every file of a tarball is under
      pack: { tarball },
      strict: true,
    });
    const lint = messages
      .filter((m) => m.type !== 'suggestion')
      .map((m) => `${m.type}: ${formatMessage(m, manifest, { color: false }) ?? m.code}`);
    const analysis = await checkPackage(createPackageFromTarballData(new Uint8Array(data)));
    const types = analysis.types
      ? analysis.problems
          .filter((p) => !('resolutionKind' in p) || !IGNORED_RESOLUTIONS.has(p.resolutionKind))
          .map((p) => `types: ${p.kind} (${JSON.stringify(p)})`)
      : [`types: ${pkg.name} ships no types`];
    report(`publint --strict and arethetypeswrong of ${pkg.name}`, [...lint, ...types]);
  }

  // The project's node_modules as an install lays it out, assembled offline: each tarball unpacked
  // under node_modules/@recur/, each third-party dependency linked to the copy the workspace
  // installed, typescript and @types/node the workspace's.
  const project = join(tmp, 'project');
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '@recur'), { recursive: true });
  mkdirSync(join(modules, '@types'), { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'recur-consumer', private: true, type: 'module' }),
  );
  const link = (name, from) => {
    const target = join(modules, name);
    if (existsSync(target)) return;
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(realpathSync(join(from, 'node_modules', name)), target, 'dir');
  };
  for (const { dir, pkg } of packages) {
    const target = join(modules, pkg.name);
    mkdirSync(target);
    execFileSync('tar', ['-xzf', files[pkg.name], '-C', target, '--strip-components=1']);
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      if (!dep.startsWith('@recur/')) link(dep, dir);
    }
  }
  link('typescript', root);
  link('@types/node', root);

  // Every entry point: the packages and their subpath exports (e.g. @recur/tensor/kernels).
  const names = packages.flatMap(({ pkg }) =>
    Object.keys(pkg.exports ?? { '.': null })
      .filter((key) => key !== './package.json')
      .map((key) => (key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`)),
  );
  const ident = (name) => name.replace('@recur/', '').replace(/[-/]/g, '_');
  writeFileSync(
    join(project, 'index.ts'),
    `${names.map((n) => `import * as ${ident(n)} from '${n}';`).join('\n')}
import { Tensor, type WebGPUOptions } from '@recur/tensor';

const t: Tensor = tensor.zeros([2, 3]);
const gpu: WebGPUOptions = { timeoutMs: 1000 };
export const used = [t.shape, gpu, ${names.map(ident).join(', ')}];
`,
  );
  const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const [module, moduleResolution] of [
    ['node16', 'node16'],
    ['esnext', 'bundler'],
  ]) {
    const config = `tsconfig.${moduleResolution}.json`;
    writeFileSync(
      join(project, config),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module,
          moduleResolution,
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
        },
        files: ['index.ts'],
      }),
    );
    run(
      `tsc --moduleResolution ${moduleResolution}, skipLibCheck false`,
      process.execPath,
      [tsc, '-p', config],
      project,
    );
  }

  writeFileSync(join(project, 'load.mjs'), names.map((n) => `await import('${n}');`).join('\n'));
  writeFileSync(join(project, 'load.cjs'), names.map((n) => `require('${n}');`).join('\n'));
  run('import() of every package', process.execPath, ['load.mjs'], project);
  run('require() of every package', process.execPath, ['load.cjs'], project);

  // README examples. The optional 'webgpu' package is linked as a user would install it; examples
  // on WebGPU are skipped (said) where no adapter starts, unless RECUR_REQUIRE_WEBGPU=1. Data files
  // an example reads come from ../shared/data beside the repository (skipped, said, where absent).
  const tensorDir = join(root, 'packages', 'tensor');
  if (existsSync(join(tensorDir, 'node_modules', 'webgpu'))) link('webgpu', tensorDir);
  writeFileSync(
    join(project, 'probe-webgpu.mjs'),
    "import { initBackend } from '@recur/tensor';\nawait initBackend('webgpu');\nprocess.exit(0);\n",
  );
  let webgpu = true;
  try {
    execFileSync(process.execPath, ['probe-webgpu.mjs'], { cwd: project, stdio: 'ignore' });
  } catch {
    webgpu = false;
    if (process.env.RECUR_REQUIRE_WEBGPU === '1') {
      process.stderr.write('consumer check failed: RECUR_REQUIRE_WEBGPU=1 but no WebGPU adapter\n');
      process.exitCode = 1;
    }
  }
  const dataFiles = { 'ETTh1.csv': join(root, '..', 'shared', 'data', 'ETT', 'ETTh1.csv') };
  for (const { dir, pkg } of packages) {
    const readme = join(dir, 'README.md');
    if (!existsSync(readme)) continue;
    const blocks = [...readFileSync(readme, 'utf8').matchAll(/```(?:ts|js)\n([\s\S]*?)```/g)]
      .map((m) => m[1])
      .filter((code) => /^import .* from '@recur\//m.test(code));
    blocks.forEach((code, i) => {
      const file = `readme-${ident(pkg.name)}-${i + 1}.mjs`;
      const what = `${pkg.name} README example ${i + 1} as ${file}`;
      if (!webgpu && /'webgpu'/.test(code)) {
        console.log(`skipped: ${what} (no WebGPU adapter here)`);
        return;
      }
      for (const [name, path] of Object.entries(dataFiles)) {
        if (!code.includes(`'${name}'`)) continue;
        if (!existsSync(path)) {
          console.log(`skipped: ${what} (needs ${path})`);
          return;
        }
        if (!existsSync(join(project, name))) symlinkSync(path, join(project, name));
      }
      writeFileSync(join(project, file), code);
      run(what, process.execPath, [file], project);
    });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
