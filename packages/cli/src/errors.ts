/**
 * Errors the `recur` command reports to its user. A CliError is bad input — a missing file, a
 * malformed line, an unknown flag, a horizon longer than the data: one clear message, exit code 2,
 * and no partial output. A NumericError (exit 3) is a loss or metric that came out NaN or infinite.
 * Anything else that escapes is a bug and exits 1.
 */
export class CliError extends Error {
  /** The process exit code: 2 for bad input. */
  readonly exitCode: number;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A problem at a place in a file: the message starts with `file:line`. */
export class DataError extends CliError {
  readonly file: string;
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, message: string) {
    super(`${line === undefined ? file : `${file}:${line}`}: ${message}`);
    this.name = 'DataError';
    this.file = file;
    this.line = line;
  }
}

/** Ctrl-C during a long command: what was running has saved what it could; exit 130. */
export class InterruptedError extends CliError {
  constructor(message = 'interrupted') {
    super(message, 130);
    this.name = 'InterruptedError';
  }
}

/** A loss or metric that is NaN or infinite: exit 3, naming it and what to try. */
export class NumericError extends CliError {
  constructor(message: string) {
    super(message, 3);
    this.name = 'NumericError';
  }
}

/** Throws a NumericError for the first metric that is not a finite number. */
export function requireFiniteMetrics(
  metrics: Record<string, number>,
  where: string,
  hint: string,
): void {
  for (const [name, value] of Object.entries(metrics)) {
    if (!Number.isFinite(value)) throw new NumericError(`${where} ${name} is ${value}; ${hint}`);
  }
}

/** The message of a thrown value: an Error's message, anything else as a string. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The `code` of a Node system error (ENOENT, EEXIST, …); undefined for anything else. */
export function errnoCode(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
