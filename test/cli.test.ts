import { describe, expect, it } from '@jest/globals';
import { formatList, parseArgs, runCli } from '../src/cli.js';

describe('alert-scaler list', () => {
  it('formats rows like faas-cli list, sorted by name', () => {
    const text = formatList(
      [
        { name: 'figlet', replicas: 3, invocationCount: 1200 },
        { name: 'echo', replicas: 1, invocationCount: 7 },
      ],
      false,
    );
    expect(text.split('\n')).toEqual(['Function    Invocations    Replicas', 'echo        7              1', 'figlet      1200           3']);
  });

  it('--verbose adds available replicas', () => {
    expect(formatList([{ name: 'echo', replicas: 2, availableReplicas: 1, invocationCount: 0 }], true).split('\n')[1]).toMatch(/^echo\s+0\s+2\s+1$/);
  });

  it('reads --gateway in both forms and falls back to OPENFAAS_URL', () => {
    expect(parseArgs(['list', '--gateway', 'http://127.0.0.1:1'], {}).gateway).toBe('http://127.0.0.1:1');
    expect(parseArgs(['list', '--gateway=http://127.0.0.1:2'], {}).gateway).toBe('http://127.0.0.1:2');
    expect(parseArgs(['list'], { OPENFAAS_URL: 'http://127.0.0.1:3' }).gateway).toBe('http://127.0.0.1:3');
    expect(() => parseArgs(['list', '--bogus'], {})).toThrow(/bogus/);
  });

  it('an unknown command prints usage and exits 2; an unreachable gateway exits 1', async () => {
    let err = '';
    expect(await runCli(['frobnicate'], {}, () => undefined, (s) => (err += s))).toBe(2);
    expect(err).toMatch(/usage/);
    err = '';
    expect(await runCli(['list', '--gateway', 'http://127.0.0.1:1'], {}, () => undefined, (s) => (err += s))).toBe(1);
    expect(err).toMatch(/cannot list functions/);
  });
});
