/**
 * Image packs for the image-ar task: concatenated JPEG files with an index CSV
 * (`offset,length,label,class_name,filename`), as the CIFAR-10 pack `cifar10_jpeg/` holds them
 * (`cifar10_jpeg_train.bin` + `cifar10_jpeg_train_index.csv`, the same for test). Decoded with
 * jpeg-js (pure JavaScript) and downscaled by averaging blocks of pixels.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import jpeg from 'jpeg-js';
import { CliError, DataError, messageOf } from '../errors.js';
import { readUserFile } from '../util/files.js';

/** One split of a pack: its index CSV and the file of concatenated JPEGs. */
export interface PackSplit {
  index: string;
  bin: string;
}

interface IndexRow {
  offset: number;
  length: number;
  label: number;
}

/** The train and test splits of a pack: a folder holding `*_train_index.csv`, `*_test_index.csv` and their `.bin`. */
export function locateImagePack(path: string): { train: PackSplit; test: PackSplit } {
  if (!existsSync(path)) throw new CliError(`--data: no such file or folder: ${path}`);
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const files = readdirSync(dir);
  const split = (name: 'train' | 'test'): PackSplit => {
    const index = files.find((f) => f.endsWith(`_${name}_index.csv`));
    if (!index) {
      throw new CliError(
        `--data ${path}: expected an image pack with *_${name}_index.csv and *_${name}.bin (as cifar10_jpeg/), found no *_${name}_index.csv`,
      );
    }
    const bin = index.replace(/_index\.csv$/, '.bin');
    if (!files.includes(bin))
      throw new CliError(`--data ${path}: ${index} has no ${bin} beside it`);
    return { index: join(dir, index), bin: join(dir, bin) };
  };
  return { train: split('train'), test: split('test') };
}

function readIndex(file: string): IndexRow[] {
  const lines = readUserFile(file, '--data').toString('utf8').split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0)
      throw new DataError(file, 1, `expected a header with offset,length,label, got '${lines[0]}'`);
    return i;
  };
  const [io, il, ib] = [col('offset'), col('length'), col('label')];
  const rows: IndexRow[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() === '') continue;
    const cells = line.split(',');
    const offset = Number(cells[io]);
    const length = Number(cells[il]);
    const label = Number(cells[ib]);
    if (![offset, length, label].every((v) => Number.isInteger(v) && v >= 0)) {
      throw new DataError(
        file,
        n + 1,
        `expected non-negative integers offset,length,label, got '${line}'`,
      );
    }
    rows.push({ offset, length, label });
  }
  if (rows.length === 0) throw new DataError(file, undefined, 'lists no image');
  return rows;
}

/** `want` indices spread evenly over 0..n−1 (all of them when want ≥ n). */
export function evenlySpaced(n: number, want?: number): number[] {
  if (want === undefined || want >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: want }, (_, k) => Math.floor((k * n) / want));
}

/** An RGB image of `size`×`size` from an RGB one of `width`×`height` by averaging f×f blocks. */
export function downscale(
  rgb: Uint8Array,
  width: number,
  height: number,
  size: number,
  where: string,
): Uint8Array {
  if (width !== height || width % size !== 0) {
    throw new CliError(
      `${where}: --image-size ${size} must divide the image's side (the image is ${width}×${height})`,
    );
  }
  const f = width / size;
  if (f === 1) return rgb;
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = 0; dy < f; dy++) {
          for (let dx = 0; dx < f; dx++) s += rgb[((y * f + dy) * width + (x * f + dx)) * 3 + c]!;
        }
        out[(y * size + x) * 3 + c] = Math.round(s / (f * f));
      }
    }
  }
  return out;
}

export interface ImageSet {
  /** `size`×`size`×3 sub-pixels in raster order (row by row, R G B per pixel). */
  images: Uint8Array[];
  labels: number[];
  /** Images in the pack's split (of which `images` is a subset). */
  available: number;
}

/** The images at `pick(count)` of a pack's split, decoded and downscaled to `size`. */
export function readImages(
  split: PackSplit,
  size: number,
  pick: (count: number) => number[],
): ImageSet {
  const rows = readIndex(split.index);
  const bin = readUserFile(split.bin, '--data');
  const images: Uint8Array[] = [];
  const labels: number[] = [];
  for (const i of pick(rows.length)) {
    const r = rows[i]!;
    if (r.offset + r.length > bin.length) {
      throw new DataError(split.index, i + 2, `points past the end of ${basename(split.bin)}`);
    }
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(bin.subarray(r.offset, r.offset + r.length), {
        useTArray: true,
        formatAsRGBA: false,
      });
    } catch (e) {
      throw new DataError(split.index, i + 2, `not a decodable JPEG (${messageOf(e)})`);
    }
    images.push(downscale(img.data, img.width, img.height, size, `${split.index}:${i + 2}`));
    labels.push(r.label);
  }
  return { images, labels, available: rows.length };
}
