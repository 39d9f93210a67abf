/**
 * The ONNX protobuf messages the exporter writes, encoded with protobufjs. Message and field names
 * and numbers are those of onnx/onnx.proto (proto2; stable across ONNX releases): only the messages
 * and fields a graph of dense float32/int tensors needs are declared.
 */
import protobuf from 'protobufjs/light.js';

/** TensorProto.DataType values. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** TensorProto.DataLocation values. */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
} as const;

const NUMERIC = new Set(['float', 'double', 'int32', 'int64', 'uint64', 'bool']);

/**
 * protobufjs JSON fields from their .proto declarations (`[repeated] type name = id;`, in order).
 * Repeated numeric fields are unpacked, as in onnx.proto (proto2).
 */
function fields(...decls: string[]) {
  return Object.fromEntries(
    decls
      .join(' ')
      .split(';')
      .map((d) => d.trim().split(/[\s=]+/))
      .filter((w) => w.length > 1)
      .map((w) => {
        const repeated = w[0] === 'repeated';
        const [type, name, id] = repeated ? w.slice(1) : w;
        const options = repeated && NUMERIC.has(type!) ? { options: { packed: false } } : {};
        return [
          name!,
          { ...(repeated ? { rule: 'repeated' } : {}), type: type!, id: Number(id), ...options },
        ];
      }),
  );
}

const schema = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: fields(
            'string name = 1; float f = 2; int64 i = 3; bytes s = 4; TensorProto t = 5;',
            'GraphProto g = 6; repeated float floats = 7; repeated int64 ints = 8; int32 type = 20;',
          ),
        },
        ValueInfoProto: {
          fields: fields('string name = 1; TypeProto type = 2;'),
        },
        NodeProto: {
          fields: fields(
            'repeated string input = 1; repeated string output = 2; string name = 3;',
            'string opType = 4; repeated AttributeProto attribute = 5; string docString = 6;',
            'string domain = 7;',
          ),
        },
        StringStringEntryProto: {
          fields: fields('string key = 1; string value = 2;'),
        },
        ModelProto: {
          fields: fields(
            'int64 irVersion = 1; string producerName = 2; string producerVersion = 3;',
            'string docString = 6; GraphProto graph = 7;',
            'repeated OperatorSetIdProto opsetImport = 8;',
            'repeated StringStringEntryProto metadataProps = 14;',
          ),
        },
        GraphProto: {
          fields: fields(
            'repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5;',
            'string docString = 10; repeated ValueInfoProto input = 11;',
            'repeated ValueInfoProto output = 12;',
          ),
        },
        TensorProto: {
          fields: fields(
            'repeated int64 dims = 1; int32 dataType = 2; string name = 8; bytes rawData = 9;',
            'repeated StringStringEntryProto externalData = 13; int32 dataLocation = 14;',
          ),
        },
        TensorShapeProto: {
          fields: fields('repeated Dimension dim = 1;'),
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: fields('int64 dimValue = 1; string dimParam = 2;'),
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: fields('Tensor tensorType = 1;'),
          nested: {
            Tensor: {
              fields: fields('int32 elemType = 1; TensorShapeProto shape = 2;'),
            },
          },
        },
        OperatorSetIdProto: {
          fields: fields('string domain = 1; int64 version = 2;'),
        },
      },
    },
  },
};

// Plain objects in the shape of the messages (protobufjs fromObject converts them).
export interface TensorMsg {
  name: string;
  dims: number[];
  dataType: DataTypeCode;
  rawData: Uint8Array;
  /** External data: location (a file beside the model), offset and length in bytes. */
  externalData?: { key: string; value: string }[];
  dataLocation?: number;
}
export interface AttributeMsg {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorMsg;
  g?: GraphMsg;
  floats?: number[];
  ints?: number[];
}
export interface NodeMsg {
  name: string;
  opType: string;
  domain: string;
  input: string[];
  output: string[];
  attribute: AttributeMsg[];
  docString?: string;
}
/** A dimension: a size, or a name for a size chosen at run time. */
export type DimMsg = { dimValue: number } | { dimParam: string };
export interface ValueInfoMsg {
  name: string;
  type: { tensorType: { elemType: DataTypeCode; shape?: { dim: DimMsg[] } } };
}
/**
 * An ONNX GraphProto as a plain object (field names in camelCase, as protobufjs gives them): its
 * nodes, initializers, inputs and outputs; the `graph` of what {@link decodeModel} returns.
 */
export interface GraphMsg {
  name: string;
  node: NodeMsg[];
  initializer: TensorMsg[];
  input: ValueInfoMsg[];
  output: ValueInfoMsg[];
  docString?: string;
}
export interface ModelMsg {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: GraphMsg;
  opsetImport: { domain: string; version: number }[];
  metadataProps: { key: string; value: string }[];
}

let root: protobuf.Root | undefined;
function type(name: string): protobuf.Type {
  root ??= protobuf.Root.fromJSON(schema);
  return root.lookupType(`onnx.${name}`);
}

/** Serialises a ModelProto. */
export function encodeModel(model: ModelMsg): Uint8Array {
  const t = type('ModelProto');
  return t.encode(t.fromObject(model as unknown as Record<string, unknown>)).finish();
}

/** Parses ModelProto bytes (for inspection and tests); throws on malformed input. */
export function decodeModel(bytes: Uint8Array): ModelMsg {
  const t = type('ModelProto');
  return t.toObject(t.decode(bytes), {
    longs: Number,
    bytes: Uint8Array as unknown as typeof String,
    defaults: false,
    arrays: true,
  }) as unknown as ModelMsg;
}
