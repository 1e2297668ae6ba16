/**
 * A gateway URL as the CLI uses it: credentials written into it (`http://user:secret@host`)
 * are taken out and sent as basic auth (fetch refuses a URL that carries them), and every
 * message shows the URL with the password as `***`.
 */
export interface GatewayUrl {
  /** The URL without credentials: what requests go to. */
  readonly base: string;
  /** The URL for messages: user kept, password `***`. */
  readonly display: string;
  /** `user:password` from the URL (percent-decoded), when it names a user or a password. */
  readonly credentials: { readonly user: string; readonly password: string } | undefined;
}

/** `scheme://user:password@` anywhere in `text`, password replaced by `***` (also for text that is no valid URL). */
export function redactCredentials(text: string): string {
  return text.replace(/(\/\/[^/?#@\s:]*):[^/?#@\s]*@/g, '$1:***@');
}

/** Splits an http(s) URL (already validated) into the URL to dial, the one to show and its credentials. */
export function gatewayUrl(gateway: string): GatewayUrl {
  const url = new URL(gateway);
  if (url.username === '' && url.password === '') return { base: gateway, display: gateway, credentials: undefined };
  const credentials = { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  const shown = new URL(gateway);
  if (shown.password !== '') shown.password = '***';
  url.username = '';
  url.password = '';
  // URL adds a `/` to a bare origin: drop it again when the user wrote none.
  const addedSlash = url.pathname === '/' && url.search === '' && url.hash === '' && !gateway.endsWith('/');
  const text = (u: URL) => (addedSlash ? u.toString().slice(0, -1) : u.toString());
  return { base: text(url), display: text(shown), credentials };
}
