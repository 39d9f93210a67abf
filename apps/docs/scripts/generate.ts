/**
 * Generates the site's reference pages before `vitepress build`/`dev`: the API reference (TypeDoc
 * with typedoc-plugin-markdown, failing on a broken {@link} or an undocumented export), the CLI
 * reference (from the CLI's option table) and the reproduction pages (from results/). The generated
 * folders (api/, cli/, reproduce/) are not checked in.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiReference } from './api-reference.js';
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

const only = process.argv[2];
for (const dir of ['cli', 'reproduce']) rmSync(join(root, dir), { recursive: true, force: true });
writePages(cliPages());
writePages(reproductionPages(join(root, 'results')));
if (only !== '--no-api') {
  rmSync(join(root, 'api'), { recursive: true, force: true });
  await apiReference(root);
}
