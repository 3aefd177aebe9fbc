import { Worker } from "node:worker_threads";

export interface PasswordHasher {
  hash(password: string, cost: number): Promise<string>;
  compare(password: string, hash: string): Promise<boolean>;
  close(): Promise<void>;
}

interface Job {
  id: number;
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

/**
 * bcrypt on worker threads, so a burst of logins never blocks the event loop
 * that serves every WebSocket. Jobs go round-robin to `threads` workers.
 */
export function createPasswordPool(threads: number): PasswordHasher {
  const workers = Array.from({ length: Math.max(1, threads) }, () => {
    const worker = new Worker(new URL("./password-worker.mjs", import.meta.url));
    worker.unref();
    return worker;
  });
  const jobs = new Map<number, Job>();
  let nextId = 1;
  let next = 0;
  for (const worker of workers) {
    worker.on("message", (reply: { id: number; result?: string | boolean; error?: string }) => {
      const job = jobs.get(reply.id);
      if (job === undefined) return;
      jobs.delete(reply.id);
      if (reply.error !== undefined || reply.result === undefined)
        job.reject(new Error(reply.error ?? "no result"));
      else job.resolve(reply.result);
    });
    worker.on("error", (error) => {
      for (const job of jobs.values()) job.reject(error);
      jobs.clear();
    });
  }

  function run<T extends string | boolean>(message: Record<string, unknown>): Promise<T> {
    const id = nextId++;
    const worker = workers[next++ % workers.length] as Worker;
    return new Promise<T>((resolve, reject) => {
      jobs.set(id, { id, resolve: resolve as (value: string | boolean) => void, reject });
      worker.postMessage({ id, ...message });
    });
  }

  return {
    hash: (password, cost) => run<string>({ op: "hash", password, cost }),
    compare: (password, hash) => run<boolean>({ op: "compare", password, hash }),
    async close() {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
