import { describe, expect, it, jest } from '@jest/globals';
import { belowLevel, createLogger } from '../../src/log/logger.js';

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

describe('createLogger', () => {
  it('returns at once from a call below its level (also on a child), and still writes those at or above it', () => {
    const logger = createLogger({ level: 'warn', format: 'json' });
    const write = jest.spyOn(logger, 'write').mockImplementation(() => true);
    expect(logger.info('m', { a: 1 })).toBe(logger);
    logger.debug('m');
    logger.child({ component: 'c' }).info('m');
    expect(write).not.toHaveBeenCalled();
    logger.warn('w');
    logger.child({ component: 'c' }).error('e');
    expect(write).toHaveBeenCalledTimes(2);
  });

  it('writes nothing when silent', () => {
    const logger = createLogger({ level: 'silent', format: 'text' });
    const write = jest.spyOn(logger, 'write').mockImplementation(() => true);
    logger.error('e');
    logger.info('i');
    expect(write).not.toHaveBeenCalled();
  });
});
