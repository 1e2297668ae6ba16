import { AppError } from '../errors.js';
import { expectPositionals } from './args.js';
import { fnPath, type Command } from './context.js';
import { json } from './table.js';

/** The answer of `POST /system/scale-function/<name>`. */
export interface ScaleAnswer {
  readonly function: string;
  readonly namespace: string;
  readonly requested: number;
  readonly from: number;
  readonly replicas: number;
  readonly clamped: boolean;
  readonly reason: string;
}

/** `alert-scaler scale <fn> <n>`: sets the replica count by hand (clamped to the function's max). */
export const scale: Command = async ({ args, client, out }) => {
  const [name = '', count = ''] = expectPositionals(args, ['fn', 'n']);
  if (!/^\d{1,9}$/.test(count)) throw new AppError('USAGE', `<n> must be a whole number of replicas (0 or more), not ${JSON.stringify(count)}`);
  const dot = name.indexOf('.');
  const answer = await client.json<ScaleAnswer>('POST', `/system/scale-function/${fnPath(name)}`, {
    serviceName: dot === -1 ? name : name.slice(0, dot),
    replicas: Number(count),
  });
  if (args.output === 'json') out(json(answer));
  else out(`${answer.function}: ${answer.from} -> ${answer.replicas} replicas (${answer.reason}${answer.clamped ? `, clamped from ${answer.requested}` : ''})\n`);
  return 0;
};
