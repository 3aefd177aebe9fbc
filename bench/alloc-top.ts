/**
 * Reads a V8 sampling heap profile (.heapprofile, written by a bench run with
 * --profile-kind alloc: freed objects included) and prints where the bytes
 * were allocated: self bytes by function and by file / package, and the
 * inclusive bytes of functions in src/. Bytes per message: pass --messages N
 * (the run's acked count over the window).
 *
 *   node --import tsx bench/alloc-top.ts PROFILE.heapprofile [--top 25] [--messages N]
 */
import { numberArg } from "./lib/args.ts";
import { bucketOf, type CallFrame, readProfile, relativeUrl, repo } from "./lib/profile-frames.ts";

interface AllocationNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: AllocationNode[];
}
interface HeapProfile {
  head: AllocationNode;
  samples: { size: number; nodeId: number }[];
}

const { profile, file, values } = readProfile<HeapProfile>(
  "alloc-top.ts PROFILE.heapprofile [--top N] [--messages N]",
  { top: { type: "string" }, messages: { type: "string" } },
);
const top = numberArg(values, "top", 25);
const messages = numberArg(values, "messages", 0);

function keyOf(node: AllocationNode, parent: string): string {
  const name = node.callFrame.functionName || `(anonymous in ${parent})`;
  const url = relativeUrl(node.callFrame);
  return url === "" ? name : `${name}  ${url.replace(/^.*node_modules\//, "pkg ")}`;
}

const selfByFunction = new Map<string, number>();
const selfByBucket = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
function walk(node: AllocationNode, parentName: string, onStack: Set<string>): number {
  const key = keyOf(node, parentName);
  total += node.selfSize;
  selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + node.selfSize);
  const bucket = bucketOf(node.callFrame);
  selfByBucket.set(bucket, (selfByBucket.get(bucket) ?? 0) + node.selfSize);
  const fresh = !onStack.has(key);
  if (fresh) onStack.add(key);
  let sum = node.selfSize;
  const name = node.callFrame.functionName || parentName;
  for (const child of node.children) sum += walk(child, name, onStack);
  if (fresh) {
    onStack.delete(key);
    if (node.callFrame.url.startsWith(`${repo}src/`)) inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
  }
  return sum;
}
walk(profile.head, "(root)", new Set());

function print(title: string, table: Map<string, number>): void {
  console.log(`\n${title}`);
  for (const [key, bytes] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const share = `${((100 * bytes) / total).toFixed(1)}%`.padStart(6);
    const perMessage = messages > 0 ? `${(bytes / messages).toFixed(0).padStart(7)} B/msg` : "";
    console.log(`${share} ${(bytes / 1048576).toFixed(1).padStart(9)} MiB ${perMessage}  ${key}`);
  }
}
console.log(
  `${file}: ${(total / 1048576).toFixed(1)} MiB sampled${messages > 0 ? `, ${(total / messages).toFixed(0)} B per message` : ""}`,
);
print("self bytes by file / package", selfByBucket);
print("self bytes by function", selfByFunction);
print("inclusive bytes of functions in src/", inclusive);
