import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';

/** fsync of a folder: the names created or renamed in it survive a machine crash. */
function syncFolder(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * An append-only file of JSON lines with group commit: lines appended in one turn of the event
 * loop are written together and made durable by one fdatasync before their promises resolve.
 * Writes are synchronous (one write + one sync per batch, never per line): a batch is small
 * and the caller waits for its durability anyway. `rewrite` replaces the file's content
 * atomically (temp file, fsync, rename, fsync of the folder): the compaction.
 */
export class LogFile {
  private fd: number;
  private pending: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private scheduled = false;
  private closed = false;
  /** Bytes in the file now. */
  bytes = 0;

  private constructor(private readonly file: string) {
    this.fd = openSync(file, 'a');
  }

  /** Opens (creating the folder and file) and returns the lines already stored; a torn last line is dropped. */
  static open(dir: string, name: string): { file: LogFile; lines: string[] } {
    const full = path.join(dir, name);
    let firstMade: string | undefined;
    try {
      firstMade = mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new AppError('CONFIG_INVALID', `ALERT_SCALER_ASYNC_DIR: cannot create ${dir} for the async queue: ${(err as Error).message}`, { cause: err });
    }
    let text = '';
    let created = false;
    try {
      text = readFileSync(full, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new AppError('CONFIG_INVALID', `async queue file ${full} cannot be read`, { cause: err });
      created = true;
    }
    const lines = text.split('\n');
    // The last piece is '' after a complete write, or a line torn by a crash: dropped either way.
    lines.pop();
    let file: LogFile;
    try {
      file = new LogFile(full);
    } catch (err) {
      throw new AppError('CONFIG_INVALID', `ALERT_SCALER_ASYNC_DIR: cannot write ${full}: ${(err as Error).message}`, { cause: err });
    }
    // A new name (file or folder) is durable only once the folder holding it is synced: the
    // fdatasync of the lines does not cover it.
    if (firstMade !== undefined) {
      for (let d = path.resolve(dir); ; d = path.dirname(d)) {
        syncFolder(path.dirname(d));
        if (d === path.resolve(firstMade) || d === path.dirname(d)) break;
      }
    }
    if (created) syncFolder(dir);
    file.bytes = Buffer.byteLength(text);
    if (!text.endsWith('\n') && text !== '') {
      // Keep the torn bytes out of the next line: end them with a newline that the reader drops as bad JSON.
      file.append('');
    }
    return { file, lines };
  }

  /** Appends a line (no newline in it); resolves once it is on disk. */
  append(line: string): Promise<void> {
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'the async queue is closed'));
    this.pending.push(line);
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Writes every pending line in one write and syncs once. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const lines = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    try {
      const data = Buffer.from(lines.join('\n') + '\n');
      writeSync(this.fd, data);
      fdatasyncSync(this.fd);
      this.bytes += data.length;
      for (const w of waiters) w.resolve();
    } catch (err) {
      const error = new AppError('INTERNAL', 'async queue write failed', { cause: err });
      for (const w of waiters) w.reject(error);
    }
  }

  /** Replaces the whole file by `lines` atomically (pending lines are flushed first, then kept out). */
  rewrite(lines: readonly string[]): void {
    this.flush();
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      const data = Buffer.from(lines.length === 0 ? '' : lines.join('\n') + '\n');
      writeSync(fd, data);
      fsyncSync(fd);
      this.bytes = data.length;
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    syncFolder(path.dirname(this.file));
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a');
  }

  /** Flushes what is pending and closes the file; later appends reject. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeSync(this.fd);
  }
}
