import { basename } from 'node:path';
import { parse } from 'csv-parse/sync';
import { CliError, DataError } from '../errors.js';
import { readUserFile } from '../util/files.js';

/** A multichannel time series read from a CSV: first column a timestamp, then numeric channels. */
export interface TimeSeriesTable {
  file: string;
  /** Channel names (the header without its first column), cleaned of undecodable characters. */
  channels: string[];
  /** The first column, row by row. */
  dates: string[];
  /** rows × channels, row-major, as written in the file. */
  values: Float64Array;
  rows: number;
  /** Things worth telling the user (duplicate timestamps, cleaned header names). */
  warnings: string[];
}

interface CsvErrorLike {
  code?: string;
  lines?: number;
  message: string;
}

/**
 * Reads an ETT / Weather / Exchange-style CSV (csv-parse does the parsing: quoting, CRLF or LF, a
 * BOM). Every value after the first column must be a number; the error names the file, the line and
 * the column otherwise. Header names with undecodable bytes (Weather's "mangled" units) are cleaned
 * to '?'; rows with a timestamp seen before are kept, as the standard protocol keeps them, with a
 * warning.
 */
export function readTimeSeriesCsv(file: string): TimeSeriesTable {
  const text = readUserFile(file, '--data').toString('utf8');
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      info: true,
      skip_empty_lines: true,
      trim: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    const err = e as CsvErrorLike;
    const msg = err.message.replace(/\s*at line \d+\.?$/, '').replace(/\s*on line \d+\.?$/, '');
    throw new DataError(file, err.lines, `malformed CSV: ${msg}`);
  }
  if (records.length === 0) throw new DataError(file, undefined, 'the file is empty');
  const header = (records[0] as { record: string[] }).record;
  if (header.length < 2) {
    throw new DataError(
      file,
      1,
      `expected a header with a date column and at least one channel, got ${header.length} column(s)`,
    );
  }
  const warnings: string[] = [];
  const channels = header.slice(1).map((h) => h.replace(/\uFFFD+/g, '?'));
  if (channels.some((c, i) => c !== header[i + 1])) {
    warnings.push(`${basename(file)}: header names had undecodable characters (shown as '?')`);
  }
  const c = channels.length;
  const rows = records.length - 1;
  if (rows === 0) throw new DataError(file, undefined, 'the file has a header but no rows');
  const values = new Float64Array(rows * c);
  const dates: string[] = new Array(rows);
  const seen = new Map<string, number>();
  let duplicates = 0;
  let firstDuplicate = '';
  for (let r = 0; r < rows; r++) {
    const { record, info } = records[r + 1] as { record: string[]; info: { lines: number } };
    const date = record[0] as string;
    dates[r] = date;
    const before = seen.get(date);
    if (before !== undefined) {
      if (duplicates === 0)
        firstDuplicate = `'${date}' on line ${info.lines} (first on line ${before})`;
      duplicates++;
    } else seen.set(date, info.lines);
    for (let j = 0; j < c; j++) {
      const cell = record[j + 1] as string;
      const v = cell === '' ? Number.NaN : Number(cell);
      if (!Number.isFinite(v)) {
        throw new DataError(
          file,
          info.lines,
          `column '${channels[j]}': expected a number, got ${cell === '' ? 'an empty field' : `'${cell}'`}`,
        );
      }
      values[r * c + j] = v;
    }
  }
  if (duplicates > 0) {
    warnings.push(
      `${basename(file)}: ${duplicates} duplicate timestamp(s), e.g. ${firstDuplicate}; rows are kept in file order, as the standard protocol does`,
    );
  }
  return { file, channels, dates, values, rows, warnings };
}

export type SplitScheme = 'etth' | 'ettm' | 'ratio';

/** The split scheme of a file: 'auto' means etth for ETTh*, ettm for ETTm*, ratio otherwise. */
export function resolveSplitScheme(flag: string, file: string): SplitScheme {
  if (flag === 'etth' || flag === 'ettm' || flag === 'ratio') return flag;
  const name = basename(file).toLowerCase();
  if (name.startsWith('etth')) return 'etth';
  if (name.startsWith('ettm')) return 'ettm';
  return 'ratio';
}

/** Row ranges [start, end) of the three splits; val and test start `lookback` rows early. */
export interface SplitBorders {
  train: [number, number];
  val: [number, number];
  test: [number, number];
}

/**
 * The standard borders (Time-Series-Library): ETTh train [0, 8640), val [8640 − L, 11520), test
 * [11520 − L, 14400), ETTm the same × 4; otherwise 70 / 10 / 20 % of the rows, val and test starting
 * L rows early. The train split is also what the scaler is fitted on.
 */
export function splitBorders(
  scheme: SplitScheme,
  rows: number,
  lookback: number,
  file: string,
): SplitBorders {
  if (scheme === 'etth' || scheme === 'ettm') {
    const m = scheme === 'etth' ? 1 : 4;
    const month = 30 * 24 * m;
    const end = 20 * month;
    if (rows < end) {
      throw new CliError(
        `--split ${scheme}: ${file} has ${rows} rows, the ${scheme === 'etth' ? 'ETTh' : 'ETTm'} borders need ${end}; use --split ratio`,
      );
    }
    return {
      train: [0, 12 * month],
      val: [12 * month - lookback, 16 * month],
      test: [16 * month - lookback, end],
    };
  }
  const numTrain = Math.trunc(rows * 0.7);
  const numTest = Math.trunc(rows * 0.2);
  const numVal = rows - numTrain - numTest;
  return {
    train: [0, numTrain],
    val: [Math.max(0, numTrain - lookback), numTrain + numVal],
    test: [Math.max(0, rows - numTest - lookback), rows],
  };
}
