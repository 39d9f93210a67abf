/**
 * Generates the site's reference pages before `vitepress build`/`dev`: the API reference (TypeDoc
 * with typedoc-plugin-markdown, failing on a broken {@link} or an undocumented export), the CLI
 * reference (from the CLI's option table) and the reproduction pages (from results/). The generated
 * folders (api/, cli/, reproduce/) are not checked in.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application } from 'typedoc';
import { cliPages, type Page } from './cli-reference.js';
import { reproductionPages } from './reproduction.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function writePages(pages: Page[]): void {
  for (const p of pages) {
    const file = join(root, `${p.path}.md`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, p.markdown);
  }
}

async function apiReference(): Promise<void> {
  rmSync(join(root, 'api'), { recursive: true, force: true });
  const app = await Application.bootstrapWithPlugins({ options: join(root, 'typedoc.json') });
  const project = await app.convert();
  if (!project) throw new Error('TypeDoc could not convert the packages (see the messages above)');
  app.validate(project);
  if (app.logger.hasErrors() || app.logger.hasWarnings()) {
    throw new Error(
      `TypeDoc: ${app.logger.errorCount} errors, ${app.logger.warningCount} warnings (a broken {@link} or an undocumented export; see above)`,
    );
  }
  await app.generateOutputs(project);
}

const only = process.argv[2];
for (const dir of ['cli', 'reproduce']) rmSync(join(root, dir), { recursive: true, force: true });
writePages(cliPages());
writePages(reproductionPages(join(root, 'results')));
if (only !== '--no-api') await apiReference();
