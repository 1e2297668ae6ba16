import { describe, expect, it } from '@jest/globals';
import { isSimpleCommand, shellArgv } from '../../../src/providers/local/command.js';
import { crashMessage } from '../../../src/providers/local/replica.js';
import { parseStack } from '../../../src/providers/local/stack.js';
import { StderrTail } from '../../../src/providers/local/stderr-tail.js';

describe('isSimpleCommand: exec only a line that is one plain command', () => {
  const rows: Array<[string, string, boolean]> = [
    ['a program with arguments is simple', 'node app.js --port 1', true],
    ['an absolute path is simple', '/usr/bin/node functions/echo.mjs', true],
    ['variables expanded in arguments are simple', 'node $APP "${DIR}/x.js"', true],
    ['operators inside single quotes are literal', "node -e 'a && b; c | d > e'", true],
    ['operators inside double quotes are literal', 'node -e "console.log(1); process.exit(3)"', true],
    ['an escaped operator is literal', 'echo a\\;b', true],
    ['an assignment after the program is an argument', 'node app.js FN=x', true],
    ['a trailing comment is ignored', 'node app.js # runs the app; really', true],
    ['&& makes a list', 'cd dir && node app.js', false],
    ['|| makes a list', 'node app.js || true', false],
    ['; makes a list', 'cd dir; node app.js', false],
    ['a pipe makes a pipeline', 'node app.js | cat', false],
    ['& runs in the background', 'node app.js &', false],
    ['parentheses make a subshell', '(node app.js)', false],
    ['an output redirection', 'node app.js > out.log', false],
    ['an input redirection', 'node app.js < in.txt', false],
    ['$( ) substitutes a command', 'node $(which app)', false],
    ['$( ) substitutes inside double quotes too', 'node "$(which app)"', false],
    ['backticks substitute a command', 'node `which app`', false],
    ['a newline separates commands', 'cd dir\nnode app.js', false],
    ['a leading assignment is the command\'s environment', 'FN=x node app.js', false],
    ['two leading assignments', 'A=1 B=2 node app.js', false],
    ['a keyword first', 'if true; then node app.js; fi', false],
    ['the while keyword first', 'while true do', false],
    ['a builtin with no program first (cd)', 'cd /srv', false],
    ['exec first is not exec\'d again', 'exec node app.js', false],
    ['export first', 'export A=1', false],
    ['the dot builtin first', '. ./env.sh', false],
    ['an unterminated quote is left to the shell', 'node "app.js', false],
    ['a blank line', '   ', false],
    ['a comment only', '# nothing', false],
  ];
  it.each(rows)('%s: %j', (_name, line, simple) => {
    expect(isSimpleCommand(line)).toBe(simple);
  });

  it('a simple command is exec\'d by /bin/sh, any other line runs as given', () => {
    expect(shellArgv('node app.js')).toEqual(['/bin/sh', '-c', 'exec node app.js']);
    expect(shellArgv('FN=x node app.js')).toEqual(['/bin/sh', '-c', 'FN=x node app.js']);
  });

  it('the stack file keeps the line of a compound command for the parent-death wrapper', () => {
    const [compound, simple, argv] = parseStack('functions:\n  a: {command: "cd x && node a.js"}\n  b: {command: "node b.js"}\n  c: {command: [node, c.js]}\n', '/srv/stack.yml', 'ns');
    expect(compound?.shellLine).toBe('cd x && node a.js');
    expect(compound?.argv).toEqual(['/bin/sh', '-c', 'cd x && node a.js']);
    expect(simple?.shellLine).toBeUndefined();
    expect(argv?.shellLine).toBeUndefined();
  });

  it('a blank command is a CONFIG_INVALID', () => {
    expect(() => parseStack('functions:\n  a: {command: "  "}\n', '/srv/stack.yml', 'ns')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('StderrTail keeps the last lines, bounded', () => {
  it('keeps at most the last N lines, the unfinished one included', () => {
    const tail = new StderrTail(3, 1000);
    tail.push(Buffer.from('one\ntwo\nthree\n'));
    tail.push(Buffer.from('four\nfi'));
    tail.push(Buffer.from('ve'));
    expect(tail.lines()).toEqual(['three', 'four', 'five']);
  });

  it('keeps at most N characters over all lines, and the end of a line longer than that', () => {
    const tail = new StderrTail(20, 10);
    tail.push(Buffer.from('aaaa\nbbbb\ncccc\n'));
    expect(tail.lines()).toEqual(['bbbb', 'cccc']);
    tail.push(Buffer.from(`${'x'.repeat(100_000)}END\n`));
    const [only] = tail.lines();
    expect(tail.lines()).toHaveLength(1);
    expect(only).toHaveLength(10);
    expect(only?.endsWith('END')).toBe(true);
  });

  it('decodes UTF-8 split across chunks and replaces control characters', () => {
    const tail = new StderrTail();
    const bytes = Buffer.from('é\u001b[31mred\r\n');
    tail.push(bytes.subarray(0, 1));
    tail.push(bytes.subarray(1));
    expect(tail.lines()).toEqual(['é\uFFFD[31mred']);
  });
});

describe('crashMessage names the cause in one line', () => {
  const rows: Array<[string, Parameters<typeof crashMessage>[0], string]> = [
    ['an exit code and the last stderr line', { reason: 'exited', code: 127, signal: null, stderr: ['x', 'sh: 1: exec: FN=x: not found'] }, 'replica exited with code 127: sh: 1: exec: FN=x: not found'],
    ['a signal', { reason: 'signal', code: null, signal: 'SIGSEGV', stderr: [] }, 'replica was killed by signal SIGSEGV'],
    ['the start timeout', { reason: 'start-timeout', code: null, signal: 'SIGKILL', stderr: ['listening soon'] }, 'replica not ready within 500 ms: listening soon'],
  ];
  it.each(rows)('%s', (_name, crash, text) => {
    expect(crashMessage(crash, { startTimeoutMs: 500 })).toBe(text);
  });

  it('is at most 300 characters', () => {
    expect(crashMessage({ reason: 'exited', code: 1, signal: null, stderr: ['y'.repeat(1000)] }, { startTimeoutMs: 1 }).length).toBeLessThanOrEqual(300);
  });
});
