import { expectPositionals } from './args.js';
import { fnPath, type Command } from './context.js';

/**
 * `alert-scaler invoke <fn>`: POSTs stdin to `/function/<fn>` and writes the answer's body
 * to stdout as it is, like `faas-cli invoke`. A non-2xx answer is a gateway error (exit 1):
 * its status and body go to stderr.
 */
export const invoke: Command = async ({ args, client, out, readStdin }) => {
  const [name = ''] = expectPositionals(args, ['fn']);
  const body = await readStdin();
  const path = `/function/${fnPath(name)}`;
  const answer = await client.send('POST', path, { body, contentType: 'text/plain' });
  if (answer.status < 200 || answer.status > 299) throw client.statusError('POST', path, answer);
  out(answer.body.toString('utf8'));
  return 0;
};
