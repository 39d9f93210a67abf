import { recurVitestConfig } from '../../vitest.shared';

export default recurVitestConfig({ isolate: false });
