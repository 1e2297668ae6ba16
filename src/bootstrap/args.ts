/** What the gateway command (`npm start`, `node dist/src/main.js`) was asked on its command line. */
export type GatewayArgs =
  | { readonly kind: 'help' }
  | { readonly kind: 'run'; readonly env: Readonly<Record<string, string>> }
  | { readonly kind: 'usage-error'; readonly message: string };

/** The gateway command's `--help`. */
export const GATEWAY_USAGE = `usage: npm start -- [--stack FILE] [--help]
       node dist/src/main.js [--stack FILE] [--help]

Runs the alert-scaler gateway: the function listener (PORT, default 8080: /function/<name>,
/metrics, /healthz), the admin listener (ALERT_SCALER_ADMIN_PORT, default 8081: /system/*,
the Alertmanager webhook POST /system/alert, the page /ui/), the scaler and the idler.

  --stack FILE   stack file of the local provider (functions run as local processes);
                 the same as ALERT_SCALER_STACK; default: examples/stack.yml
  --help         this text

Everything else is set in the environment (or a file named by ALERT_SCALER_CONFIG), e.g.
  ALERT_SCALER_PROVIDER=kubernetes     scale Deployments instead of local processes
  ALERT_SCALER_HOST=0.0.0.0            listen beyond 127.0.0.1 (the default once basic auth is set)
  ALERT_SCALER_BASIC_AUTH_USER / ALERT_SCALER_BASIC_AUTH_PASSWORD   protect /system/* and /ui/
  ALERT_SCALER_LOG_LEVEL=debug
The README's "Configuration" table lists every variable with its default.
Then: curl -d hello http://127.0.0.1:8080/function/echo ; npx alert-scaler list
`;

/** Reads the gateway command's arguments; `--stack FILE` (or `--stack=FILE`) becomes ALERT_SCALER_STACK. */
export function parseGatewayArgs(argv: readonly string[]): GatewayArgs {
  const env: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--stack' || arg.startsWith('--stack=')) {
      const value = arg === '--stack' ? argv[++i] : arg.slice('--stack='.length);
      if (value === undefined || value === '' || value.startsWith('--')) return { kind: 'usage-error', message: '--stack needs a file' };
      env['ALERT_SCALER_STACK'] = value;
      continue;
    }
    return { kind: 'usage-error', message: `unknown argument ${JSON.stringify(arg)}` };
  }
  return { kind: 'run', env };
}
