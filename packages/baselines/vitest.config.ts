import { recurVitestConfig } from '../../vitest.shared';

export default recurVitestConfig({ passWithNoTests: true, isolate: false });
