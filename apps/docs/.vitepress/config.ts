import { defineConfig } from 'vitepress';

export default defineConfig({
  title: 'recur',
  description:
    'Attention as a recurrence: Aaren and AFT models that train in parallel like Transformers and stream like RNNs.',
  cleanUrls: true,
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
    nav: [
      { text: 'Getting started', link: '/guide/getting-started' },
      { text: 'Packages', link: '/packages/tensor' },
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
        items: ['tensor', 'scan', 'aaren', 'aft', 'baselines', 'cli'].map((name) => ({
          text: `@recur/${name}`,
          link: `/packages/${name}`,
        })),
      },
    ],
  },
});
