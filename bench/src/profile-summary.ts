/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, or `pnpm bench --profile`): the functions with the
 * most self time, and the self time per package/module, so a gap to a goal can be named with where
 * the time goes.
 *
 *   node bench/dist/profile-summary.js FILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time per function and per module, in ms. */
export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  functions: { name: string; where: string; selfMs: number; percent: number }[];
  modules: { module: string; selfMs: number; percent: number }[];
}

/** `node_modules/.pnpm/zod@4.../node_modules/zod/...` → `zod`; our packages → `@faultline/<pkg>`; node internals → `node:<x>`. */
export function moduleOf(url: string): string {
  if (url === '') return '(native/vm)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] ?? ''}`;
  const nodeModules = url.lastIndexOf('/node_modules/');
  if (nodeModules >= 0) {
    const rest = url.slice(nodeModules + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  const ours = /\/packages\/([^/]+)\//.exec(url);
  if (ours) return `@faultline/${ours[1]}`;
  if (url.includes('/bench/')) return 'bench';
  return url;
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  // Time the in-process profiler itself spends (node:inspector) is not the program's.
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
  const profilerOwn = new Set<number>();
  for (const node of profile.nodes) {
    for (let up: ProfileNode | undefined = node; up; up = parent.get(up.id)) {
      if (up.callFrame.url === 'node:inspector' || up.callFrame.url.endsWith('/profiler.js')) {
        profilerOwn.add(node.id);
        break;
      }
    }
  }
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, index) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  let totalUs = 0;
  let idleUs = 0;
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const modules = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || profilerOwn.has(id)) continue;
    totalUs += us;
    if (frame.functionName === '(idle)') idleUs += us;
    const file = frame.url.replace(/^file:\/\//, '');
    const where = file === '' ? '' : `${file.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${where}`;
    const entry = functions.get(key) ?? { name: frame.functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    // Native frames (no script) are named by their function: writev, JSON.parse and the like.
    const module = frame.functionName.startsWith('(') ? frame.functionName : file === '' ? `native ${frame.functionName}` : moduleOf(file);
    modules.set(module, (modules.get(module) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const percent = (us: number): number => (busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0);
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    functions: [...functions.values()]
      .filter((entry) => entry.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({ name: entry.name, where: entry.where, selfMs: Math.round(entry.us / 100) / 10, percent: percent(entry.us) })),
    modules: [...modules.entries()]
      .filter(([module]) => module !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, selfMs: Math.round(us / 100) / 10, percent: percent(us) })),
  };
}

/** Reads and summarises a .cpuprofile file. */
export function summarizeProfileFile(file: string, top = 25): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
}

if (process.argv[1]?.endsWith('profile-summary.js')) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/dist/profile-summary.js FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const summary = summarizeProfileFile(file, Number(process.argv[3] ?? 25));
  const out: string[] = [`${file}: ${summary.totalMs.toFixed(0)} ms sampled, ${(summary.totalMs - summary.idleMs).toFixed(0)} ms busy`, '', 'self time by module (% of busy):'];
  for (const entry of summary.modules) out.push(`  ${entry.percent.toFixed(1).padStart(5)}%  ${entry.selfMs.toFixed(1).padStart(8)} ms  ${entry.module}`);
  out.push('', 'top functions by self time (% of busy):');
  for (const entry of summary.functions) out.push(`  ${entry.percent.toFixed(1).padStart(5)}%  ${entry.selfMs.toFixed(1).padStart(8)} ms  ${entry.name}  ${entry.where}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
