/**
 * Loops and waits that always end: every one is bounded by a count AND a
 * time, so a stuck broker or a lost frame fails the run instead of hanging it.
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Bounds {
  /** Most iterations / polls. */
  maxIterations: number;
  /** Most wall time in milliseconds. */
  maxMs: number;
}

/**
 * Polls `done` every `intervalMs` until it returns true; throws naming `what`
 * when the time or the poll count runs out.
 */
export async function waitUntil(
  what: string,
  done: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<void> {
  const intervalMs = options.intervalMs ?? 20;
  const deadline = performance.now() + options.timeoutMs;
  const maxPolls = Math.ceil(options.timeoutMs / intervalMs) + 1;
  for (let poll = 0; poll < maxPolls && performance.now() <= deadline; poll++) {
    if (await done()) return;
    await sleep(intervalMs);
  }
  if (await done()) return;
  throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`);
}

/** Runs `body` until it returns false, `bounds.maxIterations` runs, or `bounds.maxMs` passes. */
export async function runBounded(
  bounds: Bounds,
  body: (iteration: number) => boolean | Promise<boolean>,
): Promise<{ iterations: number; timedOut: boolean }> {
  const deadline = performance.now() + bounds.maxMs;
  let iteration = 0;
  while (iteration < bounds.maxIterations) {
    if (performance.now() > deadline) return { iterations: iteration, timedOut: true };
    const more = await body(iteration);
    iteration++;
    if (!more) break;
  }
  return { iterations: iteration, timedOut: false };
}

/** Rejects with `what` if `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `tasks` with at most `concurrency` at a time (e.g. opening 1,000 sockets without a thundering herd). */
export async function inBatches<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
