import { recurTsupConfig } from '../../tsup.shared';

export default recurTsupConfig({
  entry: ['src/index.ts', 'src/bin.ts', 'src/charts.ts'],
  // Optional at run time (bench ops reports without it): never bundled.
  external: ['onnxruntime-node'],
});
