import { StringDecoder } from 'node:string_decoder';

/** Lines a replica's stderr tail keeps. */
export const STDERR_TAIL_LINES = 20;
/** Characters a replica's stderr tail keeps, over all its lines. */
export const STDERR_TAIL_CHARS = 4096;

/** Control characters but tab: a function's output must not drive an operator's terminal. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * The last lines a process wrote to stderr: a bounded ring (at most `maxLines` lines and
 * `maxChars` characters; a longer line keeps its end), fed chunk by chunk. UTF-8 split across
 * chunks is decoded whole; control characters become U+FFFD. Memory is O(maxChars) whatever
 * the process writes.
 */
export class StderrTail {
  private readonly decoder = new StringDecoder('utf8');
  private readonly done: string[] = [];
  private doneChars = 0;
  /** The line being written (no newline yet), already cut to `maxChars`. */
  private partial = '';

  constructor(
    private readonly maxLines = STDERR_TAIL_LINES,
    private readonly maxChars = STDERR_TAIL_CHARS,
  ) {}

  push(chunk: Buffer): void {
    const text = this.decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      this.add(this.partial + text.slice(start, nl));
      this.partial = '';
      start = nl + 1;
    }
    this.partial = this.cut(this.partial + text.slice(start));
  }

  /** The kept lines, oldest first, the unfinished last line included; empty lines dropped. */
  lines(): string[] {
    const out = [...this.done];
    let chars = this.doneChars;
    const last = clean(this.partial);
    if (last !== '') {
      out.push(last);
      chars += last.length;
    }
    while (out.length > this.maxLines || (chars > this.maxChars && out.length > 1)) chars -= (out.shift() as string).length;
    return out;
  }

  private add(raw: string): void {
    const line = clean(this.cut(raw));
    if (line === '') return;
    this.done.push(line);
    this.doneChars += line.length;
    while (this.done.length > this.maxLines || (this.doneChars > this.maxChars && this.done.length > 1)) {
      this.doneChars -= (this.done.shift() as string).length;
    }
  }

  /** A line cut to its last `maxChars` characters, marked with a leading ellipsis. */
  private cut(line: string): string {
    return line.length <= this.maxChars ? line : `…${line.slice(line.length - this.maxChars + 1)}`;
  }
}

function clean(line: string): string {
  return line.replace(/\r$/, '').replace(CONTROL, '\uFFFD').trimEnd();
}
