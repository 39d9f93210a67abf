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
  let problem = basename(file).replace(/(_TRAIN|_TEST)?\.ts$/i, '');
  let dims: number | undefined;
  let classLabels: string[] | undefined;
  let hasClassLabel: boolean | undefined;
  let inData = false;
  let missing = false;
  const cases: SeriesCase[] = [];
  const order = labels ? [...labels] : [];
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!inData) {
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
          problem = value || problem;
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
          dims = n;
          break;
        }
        case 'classlabel': {
          const [flag, ...names] = rest;
          if (flag?.toLowerCase() === 'true') {
            if (names.length === 0) {
              throw new DataError(file, lineNo, '@classLabel true must list the class labels');
            }
            hasClassLabel = true;
            classLabels = names;
          } else if (flag?.toLowerCase() === 'false') {
            hasClassLabel = false;
          } else {
            throw new DataError(
              file,
              lineNo,
              `@classLabel: expected 'true <labels…>' or 'false', got '${value}'`,
            );
          }
          break;
        }
        case 'data':
          if (hasClassLabel === false) {
            throw new DataError(
              file,
              lineNo,
              'the file has no class labels (@classLabel false): nothing to classify',
            );
          }
          inData = true;
          break;
        default:
          // @univariate, @equalLength, @seriesLength, @missing and unknown headers: informative only.
          break;
      }
      continue;
    }
    const parts = line.split(':');
    if (parts.length < 2) {
      throw new DataError(
        file,
        lineNo,
        "expected dimensions separated by ':' and the class label last",
      );
    }
    const labelText = (parts.pop() as string).trim();
    if (dims === undefined) dims = parts.length;
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
      const fields = (parts[d] as string).split(',');
      const vals = fields.map((f, k) => {
        const s = f.trim();
        if (s === '?' || s.toLowerCase() === 'nan') {
          missing = true;
          return Number.NaN;
        }
        const v = Number(s);
        if (s === '' || !Number.isFinite(v)) {
          throw new DataError(
            file,
            lineNo,
            `dimension ${d + 1}, value ${k + 1}: expected a number, got '${s}'`,
          );
        }
        return v;
      });
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
    let label = order.indexOf(labelText);
    if (label < 0) {
      if (labels) {
        throw new DataError(
          file,
          lineNo,
          `class label '${labelText}' is not one of the training labels (${labels.join(', ')})`,
        );
      }
      if (classLabels && !classLabels.includes(labelText)) {
        throw new DataError(
          file,
          lineNo,
          `class label '${labelText}' is not listed in @classLabel (${classLabels.join(' ')})`,
        );
      }
      order.push(labelText);
      label = order.length - 1;
    }
    const values = new Float32Array(length * dims);
    for (let t = 0; t < length; t++) {
      for (let d = 0; d < dims; d++) values[t * dims + d] = (series[d] as number[])[t] as number;
    }
    cases.push({ values, length, label, line: lineNo });
  }
  if (!inData) throw new DataError(file, undefined, 'no @data line: not a .ts file?');
  if (cases.length === 0) throw new DataError(file, undefined, 'no cases after @data');
  // Labels in @classLabel order when the file lists them (and the caller fixed none); every listed
  // class is kept, even one without a case in this file.
  if (!labels && classLabels) {
    const listed = [...new Set(classLabels)];
    const remap = order.map((l) => listed.indexOf(l));
    for (const c of cases) c.label = remap[c.label] as number;
    return { file, problem, dims: dims as number, labels: listed, cases, missing };
  }
  return { file, problem, dims: dims as number, labels: order, cases, missing };
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
    train = join(data, found[0] as string);
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
