export {
  type ExternalDataOptions,
  ONNX_OPSET,
  type OnnxFiles,
  type ToOnnxOptions,
  toOnnx,
  toOnnxFiles,
} from './export.js';
export {
  type AttrValue,
  castTo,
  comparison,
  elementwise,
  intsOf,
  type OnnxContext,
  OnnxGraph,
  type OnnxLowering,
  type OnnxType,
  SLICE_BEGIN,
  SLICE_END,
} from './lowering.js';
export { decodeModel, type GraphMsg } from './proto.js';
export { isExporting } from './trace.js';
