import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type DefaultTheme, defineConfig } from 'vitepress';

const root = join(import.meta.dirname, '..');

/** Sidebar entries for the generated pages of a folder (api/<pkg>/…, cli/, reproduce/). */
function generated(dir: string, title: (file: string) => string): DefaultTheme.SidebarItem[] {
  const full = join(root, dir);
  if (!existsSync(full)) return [];
  return readdirSync(full)
    .filter((f) => f.endsWith('.md') && f !== 'index.md' && f !== 'README.md')
    .sort()
    .map((f) => ({
      text: title(f.replace(/\.md$/, '')),
      link: `/${dir}/${f.replace(/\.md$/, '')}`,
    }));
}

// API pages: each package, and the subpath entry points (tensor/kernels).
const PACKAGES = ['tensor', 'tensor/kernels', 'scan', 'aaren', 'aft', 'baselines', 'rl', 'cli'];

export default defineConfig({
  title: 'recur',
  description:
    'Attention as a recurrence: Aaren and AFT models that train in parallel like Transformers and stream like RNNs.',
  // Pages are written as page.html and linked as such, so the built site works under any static
  // file server (a clean '/page' link needs a server that adds '.html').
  cleanUrls: false,
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }]],
  vite: {
    // The demos run the packages' TypeScript sources (what their dist/ is built from), so the site
    // builds without building the packages first.
    resolve: { conditions: ['@recur/source'] },
    ssr: { resolve: { conditions: ['@recur/source'] } },
    worker: { format: 'es' },
    // The demo worker bundles @recur/tensor's CPU and WebGPU backends; the theme, Observable Plot.
    build: { chunkSizeWarningLimit: 2000 },
  },
  markdown: {
    // The package pages include each package's README, whose "Part of recur" link points at the
    // repository's README: on the site that is the getting-started page.
    config: (md) => {
      md.core.ruler.push('repo-readme-links', (state) => {
        for (const token of state.tokens) {
          for (const child of token.children ?? []) {
            if (child.type === 'link_open' && child.attrGet('href') === '../../README.md') {
              child.attrSet('href', '/guide/getting-started');
            }
          }
        }
      });
    },
  },
  themeConfig: {
    search: {
      provider: 'local',
      options: {
        // The search index keeps each page's text: render the pages for it without syntax
        // highlighting, the code escaped as Shiki escapes it (&#x26; and &#x3C;), so the index gets the
        // same text as from Shiki's markup, which it strips. Highlighting every page a second
        // time for the index was 6.5 of the build's 40 CPU-seconds.
        _render(src, env, md) {
          const { highlight } = md.options;
          md.options.highlight = (code) => code.replace(/&/g, '&#x26;').replace(/</g, '&#x3C;');
          try {
            const html = md.render(src, env);
            return env.frontmatter?.search === false ? '' : html;
          } finally {
            md.options.highlight = highlight;
          }
        },
      },
    },
    nav: [
      { text: 'Getting started', link: '/guide/getting-started' },
      { text: 'Demos', link: '/demos/attention-as-rnn' },
      { text: 'Packages', link: '/packages/tensor' },
      { text: 'API', link: '/api/' },
      { text: 'CLI', link: '/cli/' },
      { text: 'Reproductions', link: '/reproduce/' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Getting started', link: '/guide/getting-started' },
          { text: 'Deploy with ONNX', link: '/guide/deploy-onnx' },
        ],
      },
      {
        text: 'Packages',
        items: ['tensor', 'scan', 'aaren', 'aft', 'baselines', 'rl', 'cli'].map((name) => ({
          text: `@recur/${name}`,
          link: `/packages/${name}`,
        })),
      },
      {
        text: 'Live demos',
        items: [
          { text: 'Attention as an RNN', link: '/demos/attention-as-rnn' },
          { text: 'Parallel = recurrent', link: '/demos/parallel-recurrent' },
          { text: 'AFT position biases', link: '/demos/aft' },
        ],
      },
      {
        text: 'API reference',
        collapsed: true,
        items: [
          { text: 'Overview', link: '/api/' },
          // A package with namespaces gets a folder of pages (its own page the folder's index), the
          // others one page (beside a folder of their subpath exports' pages, as @recur/cli/charts).
          ...PACKAGES.map((name) => ({
            text: `@recur/${name}`,
            link: existsSync(join(root, 'api', '@recur', name, 'index.md'))
              ? `/api/@recur/${name}/`
              : `/api/@recur/${name}`,
          })),
        ],
      },
      {
        text: 'CLI reference',
        collapsed: true,
        items: [
          { text: 'Overview', link: '/cli/' },
          ...generated('cli', (c) => `recur ${c.replace('-', ' ')}`),
        ],
      },
      {
        text: 'Reproductions',
        items: [
          { text: 'Overview', link: '/reproduce/' },
          ...generated('reproduce', (f) => (f === 'fig5' ? 'Fig. 5: streaming' : f)),
        ],
      },
    ],
  },
});
