import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Generator } from '@recur/tensor';
import { CliError, DataError, messageOf } from '../errors.js';
import { readUserFile } from '../util/files.js';
import { parseDecimal } from './numbers.js';

/** One event sequence: 0-based marks and event times (time since the sequence's start at 0). */
export interface EventSequence {
  marks: Int32Array;
  times: Float64Array;
}

/**
 * Event sequences split into train, val and test as the data set provides them (see {@link
 * loadEvents}), with the number of marks and where each split was read from.
 */
export interface EventSplits {
  train: EventSequence[];
  /** Empty when the data has no dev split (the trainer then holds out part of train). */
  val: EventSequence[];
  test: EventSequence[];
  /** Number of marks (from dim_process, or the largest mark + 1). */
  marks: number;
  /** Where each split came from, for messages. */
  sources: string[];
  layout: 'json' | 'rmtpp';
}

/** The most distinct marks a data set may have (its embedding and output head grow with it). */
export const MAX_MARKS = 2 ** 20;

/** Parses a file's text as JSON; an error names the line of the fault. */
function parseJsonText(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = messageOf(e);
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? text.slice(0, Number(pos[1])).split('\n').length : undefined;
    throw new DataError(file, line, `invalid JSON (${msg})`);
  }
}

/** A sequence's `dim_process`, if it gives one: an integer from 1 to MAX_MARKS. */
function dimProcessOf(file: string, where: string, dim: unknown): number | undefined {
  if (dim === undefined) return undefined;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > MAX_MARKS) {
    throw new DataError(
      file,
      undefined,
      `${where}: dim_process must be an integer from 1 to ${MAX_MARKS}, got ${JSON.stringify(dim)}`,
    );
  }
  return dim;
}

/** Event k's mark and time, checked: a mark below MAX_MARKS (and dim_process), times in order. */
function checkEvent(
  file: string,
  where: string,
  k: number,
  ty: unknown,
  tm: unknown,
  dim: number | undefined,
  prev: number | undefined,
): { mark: number; time: number } {
  const at = `${where}, event ${k}`;
  if (typeof ty !== 'number' || !Number.isInteger(ty) || ty < 0 || ty >= MAX_MARKS) {
    throw new DataError(
      file,
      undefined,
      `${at}: type_event must be an integer from 0 to ${MAX_MARKS - 1}, got ${JSON.stringify(ty)}`,
    );
  }
  if (dim !== undefined && ty >= dim) {
    throw new DataError(
      file,
      undefined,
      `${at}: type_event ${ty} is not below dim_process ${dim} (marks are 0 to ${dim - 1})`,
    );
  }
  if (typeof tm !== 'number' || !Number.isFinite(tm) || tm < 0) {
    throw new DataError(
      file,
      undefined,
      `${at}: time_since_start must be a non-negative number, got ${JSON.stringify(tm)}`,
    );
  }
  if (prev !== undefined && tm < prev) {
    throw new DataError(
      file,
      undefined,
      `${at}: time ${tm} is before the previous event's ${prev}`,
    );
  }
  return { mark: ty, time: tm };
}

/** One element of the JSON array as a sequence; `marks` is at least its dim_process and marks + 1. */
function readJsonSequence(
  file: string,
  i: number,
  el: unknown,
): { sequence: EventSequence; marks: number } {
  const where = `sequence ${i}`;
  if (!el || typeof el !== 'object')
    throw new DataError(file, undefined, `${where}: expected an object`);
  const o = el as Record<string, unknown>;
  const types = o.type_event;
  const since = o.time_since_start;
  if (!Array.isArray(types) || !Array.isArray(since)) {
    throw new DataError(
      file,
      undefined,
      `${where}: expected arrays 'type_event' and 'time_since_start'`,
    );
  }
  if (types.length !== since.length) {
    throw new DataError(
      file,
      undefined,
      `${where}: 'type_event' has ${types.length} entries, 'time_since_start' ${since.length}`,
    );
  }
  if (types.length === 0) throw new DataError(file, undefined, `${where}: no events`);
  const dim = dimProcessOf(file, where, o.dim_process);
  let marks = dim ?? 0;
  const m = new Int32Array(types.length);
  const t = new Float64Array(types.length);
  for (let k = 0; k < types.length; k++) {
    const prev = k > 0 ? t[k - 1]! : undefined;
    const { mark, time } = checkEvent(file, where, k, types[k], since[k], dim, prev);
    m[k] = mark;
    t[k] = time;
    marks = Math.max(marks, mark + 1);
  }
  return { sequence: { marks: m, times: t }, marks };
}

/**
 * Reads the JSON layout: an array of { dim_process, seq_idx, seq_len, time_since_start[],
 * time_since_last_event[], type_event[] } (types 0-based). Times are taken from time_since_start
 * (so the first inter-event time is measured from 0 whatever time_since_last_event[0] holds).
 */
export function readEventsJson(file: string): { sequences: EventSequence[]; marks: number } {
  const text = readUserFile(file, '--data').toString('utf8');
  const json = parseJsonText(file, text);
  if (!Array.isArray(json)) {
    throw new DataError(file, undefined, 'expected a JSON array of event sequences');
  }
  let marks = 0;
  const sequences = json.map((el, i): EventSequence => {
    const read = readJsonSequence(file, i, el);
    marks = Math.max(marks, read.marks);
    return read.sequence;
  });
  return { sequences, marks };
}

/** Reads the RMTPP text layout: line i of the times file and of the marks file (1-based) make sequence i. */
export function readRmtpp(
  timeFile: string,
  eventFile: string,
): { sequences: EventSequence[]; marks: number } {
  const tl = readUserFile(timeFile, '--data').toString('utf8').split(/\r?\n/);
  const el = readUserFile(eventFile, '--data').toString('utf8').split(/\r?\n/);
  while (tl.length > 0 && tl[tl.length - 1]!.trim() === '') tl.pop();
  while (el.length > 0 && el[el.length - 1]!.trim() === '') el.pop();
  if (tl.length !== el.length) {
    throw new DataError(
      eventFile,
      undefined,
      `has ${el.length} sequence line(s), ${timeFile} has ${tl.length}`,
    );
  }
  let marks = 0;
  const sequences = tl.map((line, i): EventSequence => {
    const times = line.trim().split(/\s+/);
    const events = el[i]!.trim().split(/\s+/);
    if (times.length !== events.length || line.trim() === '') {
      throw new DataError(
        eventFile,
        i + 1,
        `has ${events.length} mark(s), line ${i + 1} of ${timeFile} has ${line.trim() === '' ? 0 : times.length} time(s)`,
      );
    }
    const m = new Int32Array(events.length);
    const t = new Float64Array(times.length);
    for (let k = 0; k < times.length; k++) {
      const tv = parseDecimal(times[k]!);
      if (!Number.isFinite(tv) || tv < 0)
        throw new DataError(
          timeFile,
          i + 1,
          `value ${k + 1}: expected a non-negative time, got '${times[k]}'`,
        );
      if (k > 0 && tv < t[k - 1]!)
        throw new DataError(
          timeFile,
          i + 1,
          `value ${k + 1}: time ${tv} is before the previous one`,
        );
      const mv = parseDecimal(events[k]!);
      if (!Number.isInteger(mv) || mv < 1 || mv > MAX_MARKS)
        throw new DataError(
          eventFile,
          i + 1,
          `value ${k + 1}: expected a 1-based mark up to ${MAX_MARKS}, got '${events[k]}'`,
        );
      t[k] = tv;
      m[k] = mv - 1;
      marks = Math.max(marks, mv);
    }
    return { marks: m, times: t };
  });
  return { sequences, marks };
}

/**
 * Splits one list of sequences 60/20/20 % (a single file with no given splits): in file order, or
 * shuffled with `seed` first.
 */
function splitSequences(
  all: EventSequence[],
  seed?: number,
): {
  train: EventSequence[];
  val: EventSequence[];
  test: EventSequence[];
} {
  const seqs = [...all];
  if (seed !== undefined) {
    const rng = new Generator(seed);
    for (let i = seqs.length - 1; i > 0; i--) {
      const j = rng.nextInt(0, i + 1);
      [seqs[i], seqs[j]] = [seqs[j]!, seqs[i]!];
    }
  }
  const n = seqs.length;
  const nTrain = Math.max(1, Math.round(n * 0.6));
  const nVal = Math.round(n * 0.2);
  return {
    train: seqs.slice(0, nTrain),
    val: seqs.slice(nTrain, nTrain + nVal),
    test: seqs.slice(nTrain + nVal),
  };
}

/**
 * Event data from --data: a folder with train/dev/test.json (dev optional), a folder with RMTPP
 * time-{train,dev,test}.txt and event-{…}.txt, or a single JSON file (split 60/20/20 % of its
 * sequences, in order, or shuffled with `options.splitSeed`).
 */
export function loadEvents(path: string, options: { splitSeed?: number } = {}): EventSplits {
  if (!existsSync(path)) throw new CliError(`--data: no such file or folder: ${path}`);
  if (!statSync(path).isDirectory()) {
    const { sequences, marks } = readEventsJson(path);
    if (sequences.length < 3) {
      throw new DataError(
        path,
        undefined,
        `needs at least 3 sequences to split into train/val/test, has ${sequences.length}`,
      );
    }
    return {
      ...splitSequences(sequences, options.splitSeed),
      marks,
      sources: [path],
      layout: 'json',
    };
  }
  const files = readdirSync(path);
  const has = (f: string) => files.includes(f);
  if (has('train.json')) {
    if (!has('test.json')) throw new CliError(`--data ${path}: has train.json but no test.json`);
    const tr = readEventsJson(join(path, 'train.json'));
    const te = readEventsJson(join(path, 'test.json'));
    const dv = has('dev.json') ? readEventsJson(join(path, 'dev.json')) : undefined;
    return {
      train: tr.sequences,
      val: dv?.sequences ?? [],
      test: te.sequences,
      marks: Math.max(tr.marks, te.marks, dv?.marks ?? 0),
      sources: ['train.json', 'dev.json', 'test.json'].filter(has).map((f) => join(path, f)),
      layout: 'json',
    };
  }
  if (has('time-train.txt') && has('event-train.txt')) {
    if (!has('time-test.txt') || !has('event-test.txt')) {
      throw new CliError(`--data ${path}: has time-/event-train.txt but not time-/event-test.txt`);
    }
    const read = (s: string) =>
      readRmtpp(join(path, `time-${s}.txt`), join(path, `event-${s}.txt`));
    const tr = read('train');
    const te = read('test');
    const dv = has('time-dev.txt') && has('event-dev.txt') ? read('dev') : undefined;
    return {
      train: tr.sequences,
      val: dv?.sequences ?? [],
      test: te.sequences,
      marks: Math.max(tr.marks, te.marks, dv?.marks ?? 0),
      sources: [path],
      layout: 'rmtpp',
    };
  }
  throw new CliError(
    `--data ${path}: expected train.json/test.json (JSON layout) or time-train.txt/event-train.txt (RMTPP layout) in the folder`,
  );
}

/**
 * Every sequence cut into consecutive windows of at most `maxEvents` events. A window's times are
 * measured from the event before it (its first inter-event time is the true one), so every event
 * keeps its interval and mark; only the history a window's model sees is shortened.
 */
export function windowSequences(
  seqs: readonly EventSequence[],
  maxEvents: number,
): EventSequence[] {
  const out: EventSequence[] = [];
  for (const s of seqs) {
    const n = s.marks.length;
    if (n <= maxEvents) {
      out.push(s);
      continue;
    }
    for (let start = 0; start < n; start += maxEvents) {
      const end = Math.min(n, start + maxEvents);
      const origin = start === 0 ? 0 : s.times[start - 1]!;
      const times = new Float64Array(end - start);
      for (let k = start; k < end; k++) times[k - start] = s.times[k]! - origin;
      out.push({ marks: s.marks.slice(start, end), times });
    }
  }
  return out;
}
