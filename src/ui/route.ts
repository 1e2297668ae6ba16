import { readFileSync } from 'node:fs';
import { Router, type Response } from 'express';

/** The page's files: served as they are, no build step (copied next to the compiled code by `npm run build`). */
const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'cards.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'util.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
} as const;

type FileName = keyof typeof FILES;

/**
 * The page may load only its own script and style and talk only to its own origin: data
 * shown on it (function names, labels, event reasons) can never run as code, even if a
 * rendering bug let it into the markup.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Reads the page's files once, from `dir` (the folder `public/` beside this module by default). */
export function loadUiFiles(dir: URL = new URL('./public/', import.meta.url)): ReadonlyMap<FileName, Buffer> {
  const files = new Map<FileName, Buffer>();
  for (const name of Object.keys(FILES) as FileName[]) files.set(name, readFileSync(new URL(name, dir)));
  return files;
}

/**
 * `GET /ui/`: the live status page (index.html, its scripts, style.css and favicon.svg), read
 * once at start and answered from memory with a strict Content-Security-Policy. `/ui` redirects
 * to `/ui/`. The page names its favicon, so a browser never asks for `/favicon.ico`.
 * Basic auth, when on, is put in front of it by createApp.
 */
export function uiRouter(files: ReadonlyMap<FileName, Buffer> = loadUiFiles()): Router {
  const router = Router({ strict: true });
  const send = (name: FileName) => (_req: unknown, res: Response) => {
    res.setHeader('Content-Type', FILES[name]);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.send(files.get(name));
  };
  router.get('/', (req, res, next) => {
    // Mounted at /ui: without the slash the page's relative URLs would resolve against /.
    if (req.originalUrl.split('?')[0] === '/ui') {
      res.redirect(301, '/ui/');
      return;
    }
    next();
  });
  router.get('/', send('index.html'));
  for (const name of Object.keys(FILES) as FileName[]) router.get(`/${name}`, send(name));
  return router;
}
