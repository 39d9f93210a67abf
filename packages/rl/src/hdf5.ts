import { checkDataset, type OfflineDataset } from './dataset.js';

// h5wasm is the HDF5 C library compiled to WebAssembly (no native build, no install script); its
// Node entry reads and writes files on the local filesystem. Loaded on first use only.
type H5 = typeof import('h5wasm/node');
let h5: Promise<H5> | undefined;
async function loadH5(): Promise<H5> {
  h5 ??= import('h5wasm/node').then(async (lib) => {
    await lib.ready;
    return lib;
  });
  return h5;
}

const KEYS = ['observations', 'actions', 'rewards', 'terminals', 'timeouts'] as const;

/**
 * Reads a D4RL dataset file (HDF5 with `observations` [N, d_obs], `actions` [N, d_act], `rewards`,
 * `terminals` and `timeouts` [N]); other keys (`infos/*`, `next_observations`, …) are ignored.
 * Floats of any width become float32; booleans or integers become 0/1 bytes.
 */
export async function readD4rlHdf5(path: string): Promise<OfflineDataset> {
  await checkHdf5File(path);
  const lib = await loadH5();
  const file = new lib.File(path, 'r');
  try {
    const read = (key: (typeof KEYS)[number]) => {
      const entity = file.get(key);
      if (!(entity instanceof lib.Dataset)) {
        throw new Error(
          `${path}: expected a dataset '${key}' (D4RL keys: ${KEYS.join(', ')}), found ${entity ? 'a group' : 'nothing'}; keys present: ${file.keys().join(', ')}`,
        );
      }
      const shape = entity.shape ?? [];
      const value = entity.value;
      if (value === null || typeof value !== 'object' || !('length' in value)) {
        throw new Error(`${path}: '${key}' is not a numeric array`);
      }
      return { shape, values: value as ArrayLike<number | bigint | boolean> };
    };
    const obs = read('observations');
    const act = read('actions');
    const n = obs.shape[0] ?? 0;
    const width = (f: { shape: number[] }, key: string) => {
      if (f.shape.length === 1) return 1;
      if (f.shape.length === 2) return f.shape[1]!;
      throw new Error(`${path}: '${key}' should be [N] or [N, d], got [${f.shape.join(', ')}]`);
    };
    const ds: OfflineDataset = {
      observations: toFloat32(obs.values),
      actions: toFloat32(act.values),
      rewards: toFloat32(read('rewards').values),
      terminals: toFlags(read('terminals').values),
      timeouts: toFlags(read('timeouts').values),
      observationDim: width(obs, 'observations'),
      actionDim: width(act, 'actions'),
    };
    if (ds.rewards.length !== n) {
      throw new Error(`${path}: 'rewards' has ${ds.rewards.length} rows, 'observations' ${n}`);
    }
    checkDataset(ds, path);
    return ds;
  } finally {
    file.close();
  }
}

/**
 * Writes a dataset in D4RL's HDF5 layout (terminals and timeouts as bytes), to a temporary file
 * renamed into place, so a failed write leaves nothing half-written.
 */
export async function writeD4rlHdf5(path: string, ds: OfflineDataset): Promise<void> {
  checkDataset(ds);
  // Imported here so that the rest of the package also loads in a browser.
  const { existsSync, renameSync, rmSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  if (!existsSync(dirname(path))) {
    throw new Error(`writeD4rlHdf5: the directory ${dirname(path)} does not exist`);
  }
  const lib = await loadH5();
  const n = ds.rewards.length;
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const file = new lib.File(tmp, 'w');
    try {
      file.create_dataset({
        name: 'observations',
        data: ds.observations,
        shape: [n, ds.observationDim],
      });
      file.create_dataset({ name: 'actions', data: ds.actions, shape: [n, ds.actionDim] });
      file.create_dataset({ name: 'rewards', data: ds.rewards, shape: [n] });
      file.create_dataset({ name: 'terminals', data: ds.terminals, shape: [n], dtype: '<B' });
      file.create_dataset({ name: 'timeouts', data: ds.timeouts, shape: [n], dtype: '<B' });
    } finally {
      file.close();
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A clear error for a missing or non-HDF5 file, before the HDF5 library prints its own trace. */
async function checkHdf5File(path: string): Promise<void> {
  const { openSync, readSync, closeSync, existsSync } = await import('node:fs');
  if (!existsSync(path)) throw new Error(`readD4rlHdf5: no such file ${path}`);
  const fd = openSync(path, 'r');
  try {
    // The superblock signature sits at 0, 512, 1024, 2048, … (after an optional user block).
    const signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
    const head = new Uint8Array(8);
    for (const offset of [0, 512, 1024, 2048, 4096]) {
      if (readSync(fd, head, 0, 8, offset) < 8) break;
      if (head.every((b, i) => b === signature[i])) return;
    }
  } finally {
    closeSync(fd);
  }
  throw new Error(`readD4rlHdf5: ${path} is not an HDF5 file (no HDF5 signature)`);
}

function toFloat32(values: ArrayLike<number | bigint | boolean>): Float32Array {
  if (values instanceof Float32Array) return values.slice();
  return Float32Array.from({ length: values.length }, (_, i) => Number(values[i]));
}

function toFlags(values: ArrayLike<number | bigint | boolean>): Uint8Array {
  return Uint8Array.from({ length: values.length }, (_, i) => (Number(values[i]) !== 0 ? 1 : 0));
}
