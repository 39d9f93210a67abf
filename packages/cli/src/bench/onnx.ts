import { messageOf } from '../errors.js';

/**
 * onnxruntime-node as the CPU speed yardstick, optional: it is loaded with a dynamic import and
 * `loadOrt` returns null when it is not installed. The one-node ONNX graph Y = MatMul(A, B) is
 * written with a tiny protobuf encoder (field numbers from onnx/onnx.proto).
 */

/** Protobuf wire encoding of the few field kinds an ONNX ModelProto needs. */
class ProtoWriter {
  readonly bytes: number[] = [];

  varint(v: number): this {
    let x = v;
    while (x >= 0x80) {
      this.bytes.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    this.bytes.push(x);
    return this;
  }

  /** A varint field (int32/int64/enum). */
  int(field: number, v: number): this {
    return this.varint(field << 3).varint(v);
  }

  /** A length-delimited field: a string or an embedded message. */
  bytesField(field: number, data: Uint8Array | number[]): this {
    this.varint((field << 3) | 2).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    build(w);
    return this.bytesField(field, w.bytes);
  }
}

const FLOAT = 1;

function valueInfo(w: ProtoWriter, field: number, name: string, dims: number[]): void {
  w.message(field, (vi) => {
    vi.string(1, name);
    vi.message(2, (type) =>
      type.message(1, (tensorType) => {
        tensorType.int(1, FLOAT);
        tensorType.message(2, (shape) => {
          for (const d of dims) shape.message(1, (dim) => dim.int(1, d));
        });
      }),
    );
  });
}

/** ModelProto bytes of Y = MatMul(A, B), A [m, k], B [k, n], float32; IR version 10, opset 21. */
export function matmulModel(m: number, k: number, n: number): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, 10); // ir_version
  w.string(2, '@recur/cli bench');
  w.message(7, (g) => {
    g.message(1, (node) => {
      node.string(1, 'A').string(1, 'B').string(2, 'Y').string(3, 'matmul').string(4, 'MatMul');
    });
    g.string(2, 'matmul');
    valueInfo(g, 11, 'A', [m, k]);
    valueInfo(g, 11, 'B', [k, n]);
    valueInfo(g, 12, 'Y', [m, n]);
  });
  w.message(8, (op) => op.string(1, '').int(2, 21)); // opset_import
  return Uint8Array.from(w.bytes);
}

export interface OrtModule {
  InferenceSession: {
    create(
      model: Uint8Array,
      options: Record<string, unknown>,
    ): Promise<{
      run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
      release(): Promise<void>;
    }>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

/** onnxruntime-node if it can be loaded, else null (with the reason). */
export async function loadOrt(): Promise<{ ort: OrtModule | null; reason?: string }> {
  try {
    const name = 'onnxruntime-node';
    const mod = (await import(name)) as OrtModule & { default?: OrtModule };
    const ort = mod.InferenceSession ? mod : mod.default!;
    return { ort };
  } catch (e) {
    return { ort: null, reason: messageOf(e).split('\n')[0] };
  }
}

export interface OrtMatmul {
  run(a: Float32Array, b: Float32Array): Promise<Float32Array>;
  release(): Promise<void>;
}

/** An onnxruntime session computing A @ B (n × n) on `threads` intra-op threads. */
export async function createOrtMatmul(ort: OrtModule, n: number, threads = 1): Promise<OrtMatmul> {
  const session = await ort.InferenceSession.create(matmulModel(n, n, n), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  return {
    async run(a, b) {
      const out = await session.run({
        A: new ort.Tensor('float32', a, [n, n]),
        B: new ort.Tensor('float32', b, [n, n]),
      });
      return out.Y?.data as Float32Array;
    },
    release: () => session.release(),
  };
}
