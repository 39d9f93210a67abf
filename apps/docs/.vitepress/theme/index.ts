import type { Theme } from 'vitepress';
import DefaultTheme from 'vitepress/theme';
import DemoAft from './components/DemoAft.vue';
import DemoParallel from './components/DemoParallel.vue';
import DemoRecall from './components/DemoRecall.vue';
import ResultsFigure from './components/ResultsFigure.vue';
import StreamFigure from './components/StreamFigure.vue';
import './custom.css';

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('DemoRecall', DemoRecall);
    app.component('DemoParallel', DemoParallel);
    app.component('DemoAft', DemoAft);
    app.component('StreamFigure', StreamFigure);
    app.component('ResultsFigure', ResultsFigure);
  },
} satisfies Theme;
