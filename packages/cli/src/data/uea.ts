import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CliError, DataError } from '../errors.js';
import { readUserFile } from '../util/files.js';

/** One case of a .ts file: `length` steps × `dims` values (time-major), and its class. */
export interface SeriesCase {
  values: Float32Array;
  length: number;
  /** Index into the file's labels. */
  label: number;
  /** 1-based line in the file. */
  line: number;
}

/**
 * A parsed UEA/UCR `.ts` file (see {@link readTsFile}): its problem name, the number of dimensions,
 * the class labels and the cases.
 */
export interface SeriesFile {
  file: string;
  problem: string;
  dims: number;
  /** Class labels in the order of `@classLabel` (or of first appearance). */
  labels: string[];
  cases: SeriesCase[];
  /** Whether any value was '?' (missing; read as NaN). */
  missing: boolean;
}

/** What reading a .ts file has gathered so far. */
interface TsReader {
  file: string;
  problem: string;
  dims?: number;
  classLabels?: string[];
  hasClassLabel?: boolean;
  inData: boolean;
  missing: boolean;
  cases: SeriesCase[];
  /** Labels in index order: the caller's, then those met in the file. */
  order: string[];
  /** The label order the caller fixed (reading TEST: the TRAIN file's). */
  labels?: readonly string[];
}

/** `@classLabel true <labels…>` or `@classLabel false`. */
function readClassLabel(r: TsReader, lineNo: number, rest: string[], value: string): void {
  const [flag, ...names] = rest;
  if (flag?.toLowerCase() === 'true') {
    if (names.length === 0) {
      throw new DataError(r.file, lineNo, '@classLabel true must list the class labels');
    }
    r.hasClassLabel = true;
    r.classLabels = names;
  } else if (flag?.toLowerCase() === 'false') {
    r.hasClassLabel = false;
  } else {
    throw new DataError(
      r.file,
      lineNo,
      `@classLabel: expected 'true <labels…>' or 'false', got '${value}'`,
    );
  }
}

/** One `@` header line before `@data`. */
function readHeader(r: TsReader, lineNo: number, line: string): void {
  const { file } = r;
  if (!line.startsWith('@')) {
    throw new DataError(
      file,
      lineNo,
      `expected a '#' comment or an '@' header line before @data, got '${line.slice(0, 40)}'`,
    );
  }
  const [rawKey, ...rest] = line.slice(1).split(/\s+/);
  const key = (rawKey ?? '').toLowerCase();
  const value = rest.join(' ');
  switch (key) {
    case 'problemname':
      r.problem = value || r.problem;
      break;
    case 'timestamps':
      if (value.toLowerCase() === 'true') {
        throw new DataError(
          file,
          lineNo,
          '@timeStamps true is not supported (values must be plain numbers)',
        );
      }
      break;
    case 'targetlabel':
      if (value.toLowerCase().startsWith('true')) {
        throw new DataError(
          file,
          lineNo,
          '@targetLabel (regression) is not supported; the classify task needs @classLabel',
        );
      }
      break;
    case 'dimensions': {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) {
        throw new DataError(
          file,
          lineNo,
          `@dimensions: expected a positive integer, got '${value}'`,
        );
      }
      r.dims = n;
      break;
    }
    case 'classlabel':
      readClassLabel(r, lineNo, rest, value);
      break;
    case 'data':
      if (r.hasClassLabel === false) {
        throw new DataError(
          file,
          lineNo,
          'the file has no class labels (@classLabel false): nothing to classify',
        );
      }
      r.inData = true;
      break;
    default:
      // @univariate, @equalLength, @seriesLength, @missing and unknown headers: informative only.
      break;
  }
}

/** The values of dimension `d` of a case ('?' and 'nan' are missing: NaN). */
function readDimension(r: TsReader, lineNo: number, d: number, text: string): number[] {
  return text.split(',').map((f, k) => {
    const s = f.trim();
    if (s === '?' || s.toLowerCase() === 'nan') {
      r.missing = true;
      return Number.NaN;
    }
    const v = Number(s);
    if (s === '' || !Number.isFinite(v)) {
      throw new DataError(
        r.file,
        lineNo,
        `dimension ${d + 1}, value ${k + 1}: expected a number, got '${s}'`,
      );
    }
    return v;
  });
}

/** The index of a case's class label, adding it to the order when the file may. */
function labelIndex(r: TsReader, lineNo: number, labelText: string): number {
  const label = r.order.indexOf(labelText);
  if (label >= 0) return label;
  if (r.labels) {
    throw new DataError(
      r.file,
      lineNo,
      `class label '${labelText}' is not one of the training labels (${r.labels.join(', ')})`,
    );
  }
  if (r.classLabels && !r.classLabels.includes(labelText)) {
    throw new DataError(
      r.file,
      lineNo,
      `class label '${labelText}' is not listed in @classLabel (${r.classLabels.join(' ')})`,
    );
  }
  r.order.push(labelText);
  return r.order.length - 1;
}

/** One case after `@data`: dimensions separated by ':', values by ',', the class label last. */
function readCase(r: TsReader, lineNo: number, line: string): SeriesCase {
  const { file } = r;
  const parts = line.split(':');
  if (parts.length < 2) {
    throw new DataError(
      file,
      lineNo,
      "expected dimensions separated by ':' and the class label last",
    );
  }
  const labelText = parts.pop()!.trim();
  if (r.dims === undefined) r.dims = parts.length;
  const dims = r.dims;
  if (parts.length !== dims) {
    throw new DataError(
      file,
      lineNo,
      `expected ${dims} dimension(s) and a class label, got ${parts.length} dimension(s)`,
    );
  }
  let length = -1;
  const series: number[][] = [];
  for (let d = 0; d < parts.length; d++) {
    const vals = readDimension(r, lineNo, d, parts[d]!);
    if (length === -1) length = vals.length;
    else if (vals.length !== length) {
      throw new DataError(
        file,
        lineNo,
        `dimension ${d + 1} has ${vals.length} values, dimension 1 has ${length}: the dimensions of a case must have one length`,
      );
    }
    series.push(vals);
  }
  const label = labelIndex(r, lineNo, labelText);
  const values = new Float32Array(length * dims);
  for (let t = 0; t < length; t++) {
    for (let d = 0; d < dims; d++) values[t * dims + d] = (series[d] as number[])[t]!;
  }
  return { values, length, label, line: lineNo };
}

/**
 * Reads a UEA/sktime `.ts` classification file: `#` comments, `@` header lines (`@problemName`,
 * `@timeStamps`, `@missing`, `@univariate`, `@dimensions`, `@equalLength`, `@seriesLength`, `@classLabel true`
 * …), then `@data` and one case a line — dimensions separated by ':', values by ',', the class label
 * last. Unequal lengths are fine (the model pads and masks); each error names the file and line.
 * `labels` fixes the label order (the TRAIN file's, when reading TEST).
 */
export function readTsFile(file: string, labels?: readonly string[]): SeriesFile {
  const text = readUserFile(file, '--data').toString('utf8');
  const lines = text.split(/\r?\n/);
  const r: TsReader = {
    file,
    problem: basename(file).replace(/(_TRAIN|_TEST)?\.ts$/i, ''),
    inData: false,
    missing: false,
    cases: [],
    order: labels ? [...labels] : [],
    labels,
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (r.inData) r.cases.push(readCase(r, i + 1, line));
    else readHeader(r, i + 1, line);
  }
  const { problem, cases, missing, classLabels, order } = r;
  if (!r.inData) throw new DataError(file, undefined, 'no @data line: not a .ts file?');
  if (cases.length === 0) throw new DataError(file, undefined, 'no cases after @data');
  const dims = r.dims!;
  // Labels in @classLabel order when the file lists them (and the caller fixed none); every listed
  // class is kept, even one without a case in this file.
  if (!labels && classLabels) {
    const listed = [...new Set(classLabels)];
    const remap = order.map((l) => listed.indexOf(l));
    for (const c of cases) c.label = remap[c.label]!;
    return { file, problem, dims, labels: listed, cases, missing };
  }
  return { file, problem, dims, labels: order, cases, missing };
}

/**
 * The TRAIN and TEST files of a classification data set from --data (a *_TRAIN.ts file or a folder
 * holding one) and --test (default: TRAIN replaced by TEST in the name).
 */
export function locateTsFiles(data: string, test?: string): { train: string; test: string } {
  if (!existsSync(data)) throw new CliError(`--data: no such file or folder: ${data}`);
  let train = data;
  if (statSync(data).isDirectory()) {
    const found = readdirSync(data).filter((f) => /_TRAIN\.ts$/i.test(f));
    if (found.length !== 1) {
      throw new CliError(
        `--data ${data}: expected one *_TRAIN.ts file in the folder, found ${found.length === 0 ? 'none' : found.join(', ')}`,
      );
    }
    train = join(data, found[0]!);
  }
  let testFile = test;
  if (!testFile) {
    const name = basename(train);
    if (!/TRAIN/.test(name)) {
      throw new CliError(
        `--data ${train}: the name has no 'TRAIN' to find the TEST file by; pass --test`,
      );
    }
    testFile = join(dirname(train), name.replace(/TRAIN(?!.*TRAIN)/, 'TEST'));
  }
  if (!existsSync(testFile)) throw new CliError(`--test: no such file: ${testFile}`);
  return { train, test: testFile };
}
