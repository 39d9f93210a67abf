import { defineConfig } from 'vitepress';

export default defineConfig({
  title: 'recur',
  description:
    'Attention as a recurrence: Aaren and AFT models that train in parallel like Transformers and stream like RNNs.',
  cleanUrls: true,
  themeConfig: {
    nav: [{ text: 'Getting started', link: '/guide/getting-started' }],
    sidebar: [
      {
        text: 'Guide',
        items: [{ text: 'Getting started', link: '/guide/getting-started' }],
      },
    ],
  },
});
