import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { type CsvError, Parser } from 'csv-parse';
import { CliError, DataError } from '../errors.js';
import { checkUserFile, fsError } from '../util/files.js';
import { parseDecimal } from './numbers.js';

/** A multichannel time series read from a CSV: first column a timestamp, then numeric channels. */
export interface TimeSeriesTable {
  file: string;
  /** Channel names (the header without its first column), cleaned of undecodable characters. */
  channels: string[];
  /** rows × channels, row-major, as written in the file. */
  values: Float64Array;
  rows: number;
  /** Things worth telling the user (duplicate timestamps, cleaned header names). */
  warnings: string[];
}

/** Progress of a long read: rows so far, their rate, and the share of the file read. */
export interface ReadProgress {
  rows: number;
  rowsPerSecond: number;
  fraction: number;
}

export interface CsvReadOptions {
  /** Called about every `progressSeconds` (2) while a file larger than 32 MiB is read. */
  onProgress?: (p: ReadProgress) => void;
  progressSeconds?: number;
}

/**
 * The largest magnitude a value may have: beyond it, sums of squares over a split (the scaler's
 * statistics, and the float32 ones of training) overflow float32's 3.4e38.
 */
export const MAX_ABS_VALUE = 1e15;

const CHUNK = 1 << 20;

/** The synchronous core of csv-parse's stream parser: bytes in, records out, no event loop. */
interface CsvApi {
  parse(
    buf: Buffer | undefined,
    end: boolean,
    push: (record: { record: string[]; info: { lines: number } }) => void,
    close: () => void,
  ): CsvError | undefined;
}

/**
 * Reads an ETT / Weather / Exchange-style CSV (csv-parse does the parsing: quoting, CRLF or LF, a
 * BOM) in 1 MiB chunks, keeping only the numeric matrix, so memory follows the values, not the
 * text. Every value after the first column must be a decimal literal of magnitude at most
 * MAX_ABS_VALUE; the error names the file, the line and the column otherwise. Header names with
 * undecodable bytes (Weather's "mangled" units) are cleaned to '?'; a row whose timestamp is the
 * previous row's (or earlier) is kept, as the standard protocol keeps it, with a warning.
 */
export function readTimeSeriesCsv(file: string, options: CsvReadOptions = {}): TimeSeriesTable {
  checkUserFile(file, '--data');
  const size = statSync(file).size;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw fsError(e, `--data: cannot read ${file}`);
  }
  const table = new TableBuilder(file, size);
  try {
    readRecords(fd, size, table, options);
  } finally {
    closeSync(fd);
  }
  return table.finish();
}

/** The numeric matrix of a CSV, built record by record (the header first). */
class TableBuilder {
  readonly file: string;
  /** The file's size in bytes, to size the matrix. */
  readonly size: number;
  readonly warnings: string[] = [];
  channels: string[] | undefined;
  c = 0;
  values = new Float64Array(0);
  rows = 0;
  prevDate = '';
  prevTime = Number.NaN;
  duplicates = 0;
  firstDuplicate = '';

  constructor(file: string, size: number) {
    this.file = file;
    this.size = size;
  }

  /** The header: a date column and the channels' names. */
  header(record: string[]): void {
    if (record.length < 2) {
      throw new DataError(
        this.file,
        1,
        `expected a header with a date column and at least one channel, got ${record.length} column(s)`,
      );
    }
    const channels = record.slice(1).map((h) => h.replace(/\uFFFD+/g, '?'));
    if (channels.some((name, i) => name !== record[i + 1])) {
      this.warnings.push(
        `${basename(this.file)}: header names had undecodable characters (shown as '?')`,
      );
    }
    this.channels = channels;
    const c = channels.length;
    this.c = c;
    // Room for the rows the file's size suggests (grown by half when that was too few).
    this.values = new Float64Array(Math.max(1024, Math.ceil(this.size / (8 * c + 16))) * c);
  }

  /** Counts a timestamp equal to or before the previous row's (kept, with a warning). */
  #checkOrder(date: string, line: number): void {
    const time = Date.parse(date);
    if (this.rows > 0 && (date === this.prevDate || time <= this.prevTime)) {
      if (this.duplicates === 0)
        this.firstDuplicate = `'${date}' on line ${line} (the row before is '${this.prevDate}')`;
      this.duplicates++;
    }
    this.prevDate = date;
    this.prevTime = time;
  }

  /** One data row: its timestamp checked, its cells parsed as bounded decimals. */
  row(record: string[], line: number): void {
    const { c, rows } = this;
    const channels = this.channels!;
    this.#checkOrder(record[0]!, line);
    if ((rows + 1) * c > this.values.length) {
      const grown = new Float64Array(Math.ceil(this.values.length * 1.5) + c);
      grown.set(this.values);
      this.values = grown;
    }
    const values = this.values;
    for (let j = 0; j < c; j++) {
      const cell = record[j + 1];
      const v = cell === undefined ? Number.NaN : parseDecimal(cell);
      if (!Number.isFinite(v)) {
        throw new DataError(
          this.file,
          line,
          `column '${channels[j]}': expected a decimal number, got ${cell === undefined || cell === '' ? 'an empty field' : `'${cell.slice(0, 40)}'`}`,
        );
      }
      if (Math.abs(v) > MAX_ABS_VALUE) {
        throw new DataError(
          this.file,
          line,
          `column '${channels[j]}': ${cell} is beyond ±${MAX_ABS_VALUE.toExponential(0)}, where float32 statistics overflow; rescale the column`,
        );
      }
      values[rows * c + j] = v;
    }
    this.rows = rows + 1;
  }

  finish(): TimeSeriesTable {
    const { file, channels, rows, c, warnings } = this;
    if (!channels) throw new DataError(file, undefined, 'the file is empty');
    if (rows === 0) throw new DataError(file, undefined, 'the file has a header but no rows');
    if (this.duplicates > 0) {
      warnings.push(
        `${basename(file)}: ${this.duplicates} duplicate timestamp(s) (or out of order), e.g. ${this.firstDuplicate}; rows are kept in file order, as the standard protocol does`,
      );
    }
    return { file, channels, values: this.values.subarray(0, rows * c), rows, warnings };
  }
}

/** Parses the open file in 1 MiB chunks into `table`, reporting progress on large files. */
function readRecords(fd: number, size: number, table: TableBuilder, options: CsvReadOptions) {
  const parser = new Parser({ bom: true, info: true, skip_empty_lines: true, trim: true });
  const api = (parser as unknown as { api: CsvApi }).api;
  let failure: Error | undefined;
  const onRecord = ({ record, info }: { record: string[]; info: { lines: number } }) => {
    if (failure) return;
    try {
      if (!table.channels) table.header(record);
      else table.row(record, info.lines);
    } catch (e) {
      failure = e instanceof Error ? e : new Error(String(e));
    }
  };
  const started = performance.now();
  let lastReport = started;
  let bytesRead = 0;
  const every = (options.progressSeconds ?? 2) * 1000;
  const buf = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const n = readSync(fd, buf, 0, CHUNK, null);
    bytesRead += n;
    // csv-parse keeps what it needs of a chunk (a field cut in two), so the buffer is reused.
    const err = api.parse(
      n > 0 ? Buffer.from(buf.subarray(0, n)) : undefined,
      n === 0,
      onRecord,
      () => {},
    );
    if (err) {
      const msg = err.message.replace(/\s*(at|on) line \d+\.?$/, '');
      throw new DataError(table.file, (err as { lines?: number }).lines, `malformed CSV: ${msg}`);
    }
    if (failure) throw failure;
    if (n === 0) break;
    const now = performance.now();
    if (options.onProgress && size > 32 * 2 ** 20 && now - lastReport > every) {
      lastReport = now;
      const rows = table.rows;
      options.onProgress({
        rows,
        rowsPerSecond: rows / ((now - started) / 1000),
        fraction: bytesRead / size,
      });
    }
  }
}

/**
 * How a series is cut into train / val / test (see {@link splitBorders}): 'etth' and 'ettm' are the
 * fixed ETT borders of hourly and 15-minute data, 'ratio' is 70 / 10 / 20 % of the rows.
 */
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
