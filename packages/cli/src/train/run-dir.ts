import { randomBytes } from 'node:crypto';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CliError, errnoCode } from '../errors.js';
import { fsError, makeDirs } from '../util/files.js';

/** The lock file a run holds in its folder for as long as it runs. */
export const LOCK_FILE = 'run.lock';

interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && typeof v.host === 'string')
      return { pid: v.pid, host: v.host, started: String(v.started ?? '?') };
  } catch {
    // unreadable or vanished: treated as held by an unknown process
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

/**
 * A run folder: held by one process at a time (a lock file naming its pid, created atomically by a
 * hard link, so it never exists half-written), and cleaned on failure of exactly the files this run
 * created: never anything another run or the user put there.
 */
export class RunDir {
  readonly path: string;
  readonly #created: boolean;
  readonly #ours = new Set<string>();
  #locked = false;
  #kept = false;
  readonly #onExit = () => this.release();

  private constructor(path: string, created: boolean) {
    this.path = path;
    this.#created = created;
  }

  /**
   * Opens (creating it if needed) the folder `path` and locks it; a live holder of the lock is an
   * error naming its pid, a stale one (its process is gone, e.g. after SIGKILL) is taken over.
   */
  static open(path: string, flag: string): RunDir {
    let created = false;
    if (existsSync(path)) {
      if (!statSync(path).isDirectory())
        throw new CliError(`${flag} ${path}: exists and is not a folder`);
    } else {
      try {
        makeDirs(path);
      } catch (e) {
        throw fsError(e, `${flag} ${path}: cannot create the folder`);
      }
      created = true;
    }
    const dir = new RunDir(path, created);
    try {
      dir.#lock(flag);
    } catch (e) {
      if (created) dir.#removeFolderIfEmpty();
      throw e;
    }
    return dir;
  }

  /**
   * A new folder `<parent>/<base>` that no other run has: `-2`, `-3`, … is appended while the name is
   * taken (mkdir is atomic, so two runs started in the same second get different folders).
   */
  static createUnique(parent: string, base: string): RunDir {
    try {
      makeDirs(parent);
    } catch (e) {
      throw fsError(e, `cannot create the folder ${parent}`);
    }
    for (let n = 1; n < 10_000; n++) {
      const path = join(parent, n === 1 ? base : `${base}-${n}`);
      try {
        mkdirSync(path);
      } catch (e) {
        if (errnoCode(e) === 'EEXIST') continue;
        throw fsError(e, `cannot create the run folder ${path}`);
      }
      const dir = new RunDir(path, true);
      dir.#lock('--out');
      return dir;
    }
    throw new CliError(`${parent}: no free run folder name for ${base}; choose one with --out`);
  }

  #lock(flag: string): void {
    const path = join(this.path, LOCK_FILE);
    const mine: LockHolder = {
      pid: process.pid,
      host: hostname(),
      started: new Date().toISOString(),
    };
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(mine)}\n`);
    } catch (e) {
      throw fsError(e, `${flag} ${this.path}: cannot write in the folder`);
    }
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(tmp, path);
          this.#locked = true;
          process.once('exit', this.#onExit);
          return;
        } catch (e) {
          if (errnoCode(e) !== 'EEXIST')
            throw fsError(e, `${flag} ${this.path}: cannot lock the folder`);
        }
        const holder = readHolder(path);
        if (holder && holder.host === hostname() && !isAlive(holder.pid)) {
          rmSync(path, { force: true }); // stale: its run was killed
          continue;
        }
        throw new CliError(
          `${flag} ${this.path}: in use by another recur run (${
            holder ? `pid ${holder.pid} on ${holder.host}, since ${holder.started}` : 'unknown pid'
          }); wait for it to finish or choose another folder (remove ${path} if that process is not recur)`,
        );
      }
      throw new CliError(`${flag} ${this.path}: could not take the lock ${path}`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** The path of a file in the folder; one that does not exist yet is this run's to clean up. */
  file(name: string): string {
    const p = join(this.path, name);
    if (!this.#kept && !existsSync(p)) this.#ours.add(p);
    return p;
  }

  /** From now on nothing is removed on failure (a checkpoint is on disk, or the run finished). */
  keep(): void {
    this.#kept = true;
  }

  /** Removes the lock (if this run holds it). */
  release(): void {
    if (!this.#locked) return;
    this.#locked = false;
    process.off('exit', this.#onExit);
    const path = join(this.path, LOCK_FILE);
    if (readHolder(path)?.pid === process.pid) rmSync(path, { force: true });
  }

  /**
   * After a failure: removes the files this run created (unless keep() was called), the lock, and
   * the folder if this run created it and it is now empty.
   */
  discard(): void {
    if (!this.#kept) for (const p of this.#ours) rmSync(p, { force: true });
    this.release();
    if (!this.#kept && this.#created) this.#removeFolderIfEmpty();
  }

  #removeFolderIfEmpty(): void {
    try {
      rmdirSync(this.path);
    } catch {
      // not empty (someone else's files) or already gone: left as it is
    }
  }
}
