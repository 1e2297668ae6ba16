import { describe, expect, it } from '@jest/globals';
import { belowLevel } from '../../src/log/logger.js';

describe('belowLevel', () => {
  it('drops an entry below the level before the later formats run, and keeps the level and those above it', () => {
    const warn = belowLevel('warn');
    const at = (level: string) => warn.transform({ level, message: 'm' });
    expect([at('debug'), at('info')]).toEqual([false, false]);
    expect(at('warn')).toMatchObject({ level: 'warn', message: 'm' });
    expect(at('error')).toMatchObject({ level: 'error' });
    expect(belowLevel('debug').transform({ level: 'debug', message: 'm' })).toMatchObject({ level: 'debug' });
  });
});
