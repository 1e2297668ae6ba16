import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { AppError } from '../errors.js';

/**
 * Reads a file as UTF-8, refusing one over `maxBytes`; injected so tests need no files. An
 * injected reader may ignore `maxBytes`: readBounded checks the size around it.
 */
export type ReadFile = (path: string, maxBytes?: number) => string;

/**
 * CONFIG_INVALID for a file over the size limit, naming the file, its size and the limit;
 * `what` names the setting that points at it (`ALERT_SCALER_STACK`, ...).
 */
export function fileTooLarge(what: string, path: string, sizeBytes: number, maxBytes: number): AppError {
  const problem = `${what}: ${path} is ${sizeBytes} bytes, over the ${maxBytes} byte limit (maxFileBytes, ALERT_SCALER_MAX_FILE_BYTES)`;
  return new AppError('CONFIG_INVALID', problem, { details: { problems: [problem], path, sizeBytes, maxFileBytes: maxBytes } });
}

/** True for the CONFIG_INVALID of fileTooLarge. */
export function isFileTooLarge(err: unknown): err is AppError {
  return err instanceof AppError && err.code === 'CONFIG_INVALID' && typeof err.details?.['maxFileBytes'] === 'number';
}

/**
 * Reads a file as UTF-8, at most `maxBytes` of it: the size is taken from the open file
 * before reading, and reading stops one byte past the limit (a file that grows meanwhile, a
 * pipe or a device reporting size 0), so a huge file is never read to be measured.
 * CONFIG_INVALID (fileTooLarge) over the limit; fs errors (ENOENT, ...) as thrown.
 */
export function readTextFile(path: string, maxBytes: number, what = path): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) throw fileTooLarge(what, path, size, maxBytes);
    let buffer: Buffer = Buffer.alloc(Math.min(maxBytes + 1, Math.max(size + 1, 64 * 1024)));
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = growBuffer(buffer, maxBytes);
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) return buffer.toString('utf8', 0, length);
      length += read;
      if (length > maxBytes) throw fileTooLarge(what, path, length, maxBytes);
    }
  } finally {
    closeSync(fd);
  }
}

/** A buffer twice as large (at most one byte past the limit), holding what was read. */
function growBuffer(buffer: Buffer, maxBytes: number): Buffer {
  const grown = Buffer.alloc(Math.min(maxBytes + 1, buffer.length * 2));
  buffer.copy(grown);
  return grown;
}

/** readTextFile without blocking the event loop: the same checks, through fs/promises. */
export async function readTextFileAsync(path: string, maxBytes: number, what = path): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size > maxBytes) throw fileTooLarge(what, path, size, maxBytes);
    let buffer: Buffer = Buffer.alloc(Math.min(maxBytes + 1, Math.max(size + 1, 64 * 1024)));
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = growBuffer(buffer, maxBytes);
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) return buffer.toString('utf8', 0, length);
      length += bytesRead;
      if (length > maxBytes) throw fileTooLarge(what, path, length, maxBytes);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Refuses a file over `maxBytes` before it is read: by its size when it exists (a missing
 * file is left to the reader, which says so). For files read by a library (kubeconfig).
 */
export function checkFileSize(path: string, maxBytes: number, what = path): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return;
  }
  if (size > maxBytes) throw fileTooLarge(what, path, size, maxBytes);
}

/**
 * Reads `path` with `readFile` under the size limit: the size is checked first (checkFileSize),
 * then the text's (an injected reader that ignores `maxBytes`).
 */
export function readBounded(readFile: ReadFile, path: string, maxBytes: number, what = path): string {
  checkFileSize(path, maxBytes, what);
  const text = readFile(path, maxBytes);
  const size = Buffer.byteLength(text);
  if (size > maxBytes) throw fileTooLarge(what, path, size, maxBytes);
  return text;
}
