/**
 * The API reference: TypeDoc with typedoc-plugin-markdown over every package's entry point
 * (typedoc.json), into api/. Any warning fails it: a broken {@link}, a symbol used by the API but
 * not exported, or an undocumented export of a package in packagesRequiringDocumentation.
 * Source links are off (disableSources): they need a public git remote, and without one TypeDoc
 * warns, which would fail every build from a clone without `origin`.
 * TypeDoc does not type-check the sources (skipErrorChecking): every package's own `typecheck`
 * task does, and repeating it here cost a quarter of the generation (22.5 → 16.7 CPU-seconds for
 * converting and validating the packages).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Application, type TypeDocOptions } from 'typedoc';

/** typedoc.json with its paths made absolute, and `overrides` on top. */
function optionsOf(root: string, overrides: Partial<TypeDocOptions>): Partial<TypeDocOptions> {
  const { $schema: _, ...file } = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8'));
  const options = { ...file, ...overrides };
  options.entryPoints = options.entryPoints.map((p: string) => resolve(root, p));
  options.tsconfig = resolve(root, options.tsconfig);
  options.out = resolve(root, options.out);
  return options;
}

/** Converts and validates; writes the pages unless `write` is false. Throws on any warning. */
export async function apiReference(
  root: string,
  overrides: Partial<TypeDocOptions> = {},
  write = true,
): Promise<void> {
  const app = await Application.bootstrapWithPlugins(optionsOf(root, overrides));
  const project = await app.convert();
  if (!project) throw new Error('TypeDoc could not convert the packages (see the messages above)');
  app.validate(project);
  if (app.logger.hasErrors() || app.logger.hasWarnings()) {
    throw new Error(
      `TypeDoc: ${app.logger.errorCount} errors, ${app.logger.warningCount} warnings (a broken {@link}, an unexported or an undocumented symbol; see above)`,
    );
  }
  if (write) await app.generateOutputs(project);
}
