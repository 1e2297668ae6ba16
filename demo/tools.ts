import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The external programs the monitoring stack needs, by role. */
export type ToolName = 'prometheus' | 'promtool' | 'alertmanager' | 'amtool';

/** Executable names tried for each tool, in order (Debian ships `prometheus-alertmanager`). */
const CANDIDATES: Readonly<Record<ToolName, readonly string[]>> = {
  prometheus: ['prometheus'],
  promtool: ['promtool'],
  alertmanager: ['alertmanager', 'prometheus-alertmanager'],
  amtool: ['amtool'],
};

/** Absolute path of `tool` found on PATH; null when it is not installed. */
export function findTool(tool: ToolName): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const name of CANDIDATES[tool]) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; try the next directory
      }
    }
  }
  return null;
}

/**
 * Finds every tool in `tools`. When one is missing, CI (`CI=true`) throws, because CI installs
 * them and a missing binary there is a broken pipeline; elsewhere it warns loudly and returns
 * null so the caller can skip.
 */
export function toolsOrSkip<T extends ToolName>(tools: readonly T[], what: string): Record<T, string> | null {
  const found: Partial<Record<T, string>> = {};
  const missing: string[] = [];
  for (const tool of tools) {
    const path = findTool(tool);
    if (path === null) missing.push(tool);
    else found[tool] = path;
  }
  if (missing.length === 0) return found as Record<T, string>;
  const message = `${what}: ${missing.join(', ')} not found on PATH (apt-get install prometheus prometheus-alertmanager)`;
  if (process.env['CI'] === 'true') throw new Error(message);
  console.warn(`SKIPPED ${message}`);
  return null;
}

/** Result of one bounded tool run. */
export interface ToolRun {
  /** Exit code; null when the process was killed (for example by the timeout). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `file args` with a hard timeout (ms) and no shell; never rejects for a non-zero exit. */
export function runTool(file: string, args: readonly string[], timeoutMs = 20_000, cwd?: string): Promise<ToolRun> {
  return new Promise((done, fail) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', cwd, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number' && !error.killed) {
        fail(error);
        return;
      }
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      done({ code, stdout, stderr });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/** The repository root: the nearest folder above this file that holds package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = resolve(dir, '..');
    if (parent === dir) throw new Error('package.json not found above demo/');
    dir = parent;
  }
}
