// Summarises a V8 .cpuprofile (node --cpu-prof): self time by package or area, busy time only.
// Usage: node dist/bench/cpu-profile.js <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

/** The area a frame belongs to: an npm package, this project's code, Node's internals or V8. */
export function areaOf(frame: ProfileNode['callFrame']): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(frame.url);
  if (pkg !== null) return pkg[1] ?? 'unknown';
  if (frame.url.includes('/dist/src/') || frame.url.includes('/src/')) return 'alert-scaler';
  if (frame.url.startsWith('node:')) return 'node';
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : 'native';
  return 'other';
}

/**
 * Per area: self time (samples whose top frame is in the area) and inclusive time (samples
 * with the area anywhere on the stack), in ms and as shares of busy (non-idle) time.
 */
export function summarise(profile: Profile): Array<{ area: string; selfMs: number; selfShare: number; inclusiveShare: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (node === undefined || node.callFrame.functionName === '(idle)') return;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    busy += ms;
    const area = areaOf(node.callFrame);
    self.set(area, (self.get(area) ?? 0) + ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (frame !== undefined) seen.add(areaOf(frame.callFrame));
    }
    for (const a of seen) inclusive.set(a, (inclusive.get(a) ?? 0) + ms);
  });
  const pct = (ms: number) => Math.round((ms / busy) * 1000) / 10;
  return [...inclusive.keys()]
    .map((area) => ({ area, selfMs: Math.round(self.get(area) ?? 0), selfShare: pct(self.get(area) ?? 0), inclusiveShare: pct(inclusive.get(area) ?? 0) }))
    .sort((a, b) => b.inclusiveShare - a.inclusiveShare);
}

const [file, top] = process.argv.slice(2);
if (file !== undefined) {
  const rows = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  process.stdout.write(`${'area'.padEnd(28)} self ms  self %  incl %\n`);
  for (const r of rows.slice(0, Number(top ?? 15))) {
    process.stdout.write(`${r.area.padEnd(28)} ${String(r.selfMs).padStart(7)} ${r.selfShare.toFixed(1).padStart(7)} ${r.inclusiveShare.toFixed(1).padStart(7)}\n`);
  }
}
