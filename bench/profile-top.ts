/**
 * Reads a V8 CPU profile (node --cpu-prof, written by the node when it exits)
 * and prints where the time went: self time by function, inclusive time of
 * functions in src/, and self time by file / package — optionally only for
 * the samples between --from-s and --to-s seconds after the profile started
 * (the bench prints the measured window in these terms).
 *
 *   node --import tsx bench/profile-top.ts PROFILE.cpuprofile [--from-s 8 --to-s 23] [--top 25]
 */
import { numberArg } from "./lib/args.ts";
import { bucketOf, type CallFrame, readProfile, relativeUrl, repo } from "./lib/profile-frames.ts";

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { profile, file, values } = readProfile<CpuProfile>(
  "profile-top.ts PROFILE.cpuprofile [--from-s S] [--to-s S] [--top N]",
  { "from-s": { type: "string" }, "to-s": { type: "string" }, top: { type: "string" } },
);
const fromUs = numberArg(values, "from-s", 0) * 1e6;
const toUs = numberArg(values, "to-s", Number.MAX_SAFE_INTEGER / 1e6) * 1e6;
const top = numberArg(values, "top", 25);

// tsx emits each module on one line, so a src/ position is a column; packages keep their lines.
function where(frame: CallFrame): string {
  const url = relativeUrl(frame);
  if (url === "") return "";
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  if (packaged) return `${packaged[1]}:${packaged[2]}:${frame.lineNumber + 1}`;
  return frame.lineNumber === 0 ? `${url} col ${frame.columnNumber}` : `${url}:${frame.lineNumber + 1}`;
}

/** Anonymous functions are named after their nearest named caller, e.g. `(anonymous in commitNext)`. */
function nameOf(node: ProfileNode): string {
  if (node.callFrame.functionName !== "") return node.callFrame.functionName;
  for (let up = parents.get(node.id); up !== undefined; up = parents.get(up.id)) {
    if (up.callFrame.functionName !== "" && !up.callFrame.functionName.startsWith("("))
      return `(anonymous in ${up.callFrame.functionName})`;
  }
  return "(anonymous)";
}

function keyOf(node: ProfileNode): string {
  return `${nameOf(node)}  ${where(node.callFrame)}`;
}

// Self time per node: each sample's time delta goes to the node on top of the stack.
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map<number, ProfileNode>();
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node);
const selfUs = new Map<number, number>();
let at = profile.startTime;
let totalUs = 0;
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i] ?? 0;
  at += delta;
  const since = at - profile.startTime;
  if (since < fromUs || since > toUs) return;
  selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  totalUs += delta;
});

const selfByFunction = new Map<string, number>();
const selfByBucket = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = nodes.get(id) as ProfileNode;
  const frame = node.callFrame;
  selfByFunction.set(keyOf(node), (selfByFunction.get(keyOf(node)) ?? 0) + us);
  selfByBucket.set(bucketOf(frame), (selfByBucket.get(bucketOf(frame)) ?? 0) + us);
}

// Inclusive time per src/ function, counted once per stack even under recursion.
const inclusive = new Map<string, number>();
const root = profile.nodes[0] as ProfileNode;
function subtree(node: ProfileNode, onStack: Set<string>): number {
  const key = keyOf(node);
  const fresh = !onStack.has(key);
  if (fresh) onStack.add(key);
  let total = selfUs.get(node.id) ?? 0;
  for (const child of node.children ?? []) total += subtree(nodes.get(child) as ProfileNode, onStack);
  if (fresh) {
    onStack.delete(key);
    if (node.callFrame.url.startsWith(`${repo}src/`)) inclusive.set(key, (inclusive.get(key) ?? 0) + total);
  }
  return total;
}
subtree(root, new Set());

function table(title: string, entries: Map<string, number>, limit: number): void {
  const rows = [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit);
  process.stdout.write(`\n${title}\n`);
  for (const [key, us] of rows) {
    const pct = ((us / totalUs) * 100).toFixed(1).padStart(5);
    const ms = (us / 1000).toFixed(0).padStart(8);
    process.stdout.write(`  ${pct}% ${ms} ms  ${key}\n`);
  }
}

const busyUs = totalUs - (selfByFunction.get("(idle)  ") ?? 0);
process.stdout.write(
  `${file}: ${(totalUs / 1e6).toFixed(1)} s sampled, ${(busyUs / 1e6).toFixed(1)} s not idle` +
    ` (${((busyUs / totalUs) * 100).toFixed(0)}%)\n`,
);
table("self time by file / package", selfByBucket, top);
table("self time by function", selfByFunction, top);
table("inclusive time of functions in src/", inclusive, top);
