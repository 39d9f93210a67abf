import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CliError, errnoCode, messageOf } from '../errors.js';

const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  ENOENT: 'no such file or folder',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
  EEXIST: 'it already exists',
};

/**
 * A file-system error (EACCES, EROFS, ENOSPC, …) as one line for the user, exit code 2; anything
 * that is not a file-system error is returned unchanged.
 */
export function fsError(e: unknown, what: string): unknown {
  const code = errnoCode(e);
  if (e instanceof CliError || typeof code !== 'string') return e;
  return new CliError(`${what} (${code}: ${FS_REASONS[code] ?? messageOf(e)})`);
}

/**
 * `mkdir -p` one level at a time: Node's own recursive mkdir never returns for some paths (under
 * /proc, for one), where this fails at once with the error of the level that cannot be made.
 */
export function makeDirs(path: string): void {
  const missing: string[] = [];
  let p = resolve(path);
  while (!existsSync(p)) {
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
    }
  }
}

/**
 * Writes `data` to `path` atomically: into a temporary file beside it, then a rename, so a reader
 * (or a crash, or Ctrl-C) never sees half a file.
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array | readonly Uint8Array[],
): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    makeDirs(dirname(path));
    if (Array.isArray(data)) {
      // Pieces, one after another (a file too large for one buffer).
      const fd = openSync(tmp, 'w');
      try {
        for (const piece of data) {
          for (let at = 0; at < piece.length; ) at += writeSync(fd, piece, at);
        }
      } finally {
        closeSync(fd);
      }
    } else writeFileSync(tmp, data as string | Uint8Array);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw fsError(e, `cannot write ${path}`);
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Checks that a file the user named exists and is a file (not a folder), naming the flag. */
export function checkUserFile(path: string, what: string): void {
  if (!existsSync(path)) throw new CliError(`${what}: no such file: ${path}`);
  if (statSync(path).isDirectory())
    throw new CliError(`${what}: expected a file, got the folder ${path}`);
}

/** Reads a file the user named, turning "no such file" into a clear CliError naming the flag. */
export function readUserFile(path: string, what: string): Buffer {
  checkUserFile(path, what);
  try {
    return readFileSync(path);
  } catch (e) {
    throw fsError(e, `${what}: cannot read ${path}`);
  }
}

export function readJsonFile(path: string, what: string): unknown {
  const text = readUserFile(path, what).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${path}: ${what} is not valid JSON (${messageOf(e)})`);
  }
}

/**
 * An output folder that is removed again if the command fails before it finishes (so bad input
 * leaves nothing behind), unless it existed before or `keep()` was called.
 */
export class OutputDir {
  readonly path: string;
  readonly existed: boolean;
  #kept = false;

  constructor(path: string) {
    this.path = path;
    this.existed = existsSync(path);
    if (this.existed && !statSync(path).isDirectory())
      throw new CliError(`--out: ${path} exists and is not a folder`);
  }

  /** Creates the folder (and parents). */
  create(): this {
    makeDirs(this.path);
    return this;
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /** From now on the folder stays, whatever happens. */
  keep(): void {
    this.#kept = true;
  }

  /**
   * Writes a command's numbers as `name` (JSON) beside its figures, keeps the folder, and returns
   * the line that says where both are.
   */
  finish(figures: readonly string[], name: string, numbers: unknown): string {
    writeJsonAtomic(this.file(name), numbers);
    this.keep();
    const where = figures.map((f) => this.file(f)).join(', ');
    return `\nFigures: ${where}; numbers: ${this.file(name)}`;
  }

  /** Removes the folder if this command created it and nothing asked to keep it. */
  discard(): void {
    if (!this.existed && !this.#kept) rmSync(this.path, { recursive: true, force: true });
  }
}
