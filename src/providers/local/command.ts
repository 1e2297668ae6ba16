/**
 * How a stack file's string `command` runs: a simple command is exec'd by the shell (the
 * replica is the command's own process: it gets the signals and the parent-death signal
 * directly); anything else runs as written by `/bin/sh -c`, with the shell as its parent.
 */

/**
 * Words that, first on the line, make it something `exec` cannot run: shell keywords and
 * builtins that have no program of the same name (or whose program would not do the same).
 */
const SHELL_WORDS: ReadonlySet<string> = new Set([
  // keywords (POSIX, plus bash's so a line meant for bash is not mangled either)
  '!', '{', '}', '[[', ']]', 'case', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'function', 'if', 'in', 'select', 'then', 'time', 'until', 'while',
  // builtins exec cannot find on PATH, or that act on the shell itself
  '.', ':', 'alias', 'bg', 'break', 'cd', 'command', 'continue', 'eval', 'exec', 'exit', 'export', 'fg', 'getopts', 'hash', 'jobs', 'local',
  'read', 'readonly', 'return', 'set', 'shift', 'source', 'times', 'trap', 'type', 'ulimit', 'umask', 'unalias', 'unset', 'wait',
]);

/** Characters that, unquoted, make a line more than one command (lists, pipes, subshells, redirections, substitutions). */
const OPERATORS = new Set([';', '&', '|', '(', ')', '<', '>', '`', '\n', '\r']);

/** A leading `NAME=value` word: an assignment for the command, which `exec NAME=value` would run as a program. */
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * True when `line` is one plain command that `exec <line>` runs as the shell would run the
 * line itself: no unquoted operator (`&& || ; | & ( ) < >`, a newline), no `$( )` or
 * backticks (quoted in "" too), no leading `VAR=value`, no keyword or builtin first, every
 * quote closed, at least one word. Quoting is followed as sh does (`'…'` literal, `"…"` and
 * `\` escapes); a `#` starting a word begins a comment. When in doubt the answer is false:
 * running a simple command without `exec` costs a shell process, never correctness.
 */
export function isSimpleCommand(line: string): boolean {
  let quote: "'" | '"' | null = null;
  /** The first word as written (quotes kept), complete once `words` is 1. */
  let first = '';
  let words = 0;
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quote === "'") {
      if (c === "'") quote = null;
      if (words === 0) first += c;
      continue;
    }
    if (c === '\\') {
      // An escaped character is literal; an escaped newline would join lines: not simple.
      const next = line.charAt(i + 1);
      if (next === '' || next === '\n' || next === '\r') return false;
      if (words === 0) first += c + next;
      inWord = true;
      i += 1;
      continue;
    }
    if (c === '$' && line.charAt(i + 1) === '(') return false;
    if (c === '`') return false;
    if (quote === '"') {
      if (c === '"') quote = null;
      if (words === 0) first += c;
      continue;
    }
    if (c === ' ' || c === '\t') {
      if (inWord) words += 1;
      inWord = false;
      continue;
    }
    if (c === '#' && !inWord) break;
    if (OPERATORS.has(c)) return false;
    if (c === "'" || c === '"') quote = c;
    if (words === 0) first += c;
    inWord = true;
  }
  if (quote !== null) return false;
  if (inWord) words += 1;
  if (words === 0) return false;
  return !ASSIGNMENT.test(first) && !SHELL_WORDS.has(first);
}

/**
 * The argv that runs a stack file's command line: `/bin/sh -c "exec <line>"` for a simple
 * command (see isSimpleCommand), `/bin/sh -c <line>` otherwise.
 */
export function shellArgv(line: string): string[] {
  return ['/bin/sh', '-c', isSimpleCommand(line) ? `exec ${line}` : line];
}

/**
 * The parent-death signal of a compound command line's shell: one the gateway never sends to
 * a replica's group (it sends TERM and KILL), so the shell can tell the gateway's death apart.
 */
export const PARENT_DEATH_SIGNAL = 'USR2';

/**
 * The shell script that runs a compound command line under a parent-death signal (setpriv
 * sets PARENT_DEATH_SIGNAL on this shell): when the gateway dies the shell kills its whole
 * process group, so the line's own children, which do not inherit a parent-death signal,
 * die with the gateway too. The line runs as given by a second `/bin/sh -c` (it is passed as
 * `$1`, never spliced into this text), in the background so that the trap can interrupt
 * `wait`. The script's exit status is the line's.
 */
export const PARENT_DEATH_WRAPPER = `trap "kill -KILL 0" ${PARENT_DEATH_SIGNAL}; /bin/sh -c "$1" & wait $!`;
