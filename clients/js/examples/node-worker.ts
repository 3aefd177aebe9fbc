/**
 * A Node.js worker that consumes a queue with acks: each job is acked once
 * handled and nacked (redelivered a second later) when handling fails.
 * Reconnects and re-subscribes by itself; SIGINT/SIGTERM stop it cleanly,
 * giving un-acked jobs back to the queue at once.
 *
 *   AVISO_URLS=http://127.0.0.1:8080 AVISO_USERNAME=alice AVISO_PASSWORD='correct horse' \
 *   AVISO_QUEUE=jobs node --import tsx --conditions=aviso-source clients/js/examples/node-worker.ts
 */
import { createClient, type QueueMessage } from "@aviso/client";

const env = process.env;
const aviso = createClient({
  urls: (env.AVISO_URLS ?? "http://127.0.0.1:8080").split(","),
  ...(env.AVISO_USERNAME === undefined
    ? {}
    : { username: env.AVISO_USERNAME, password: env.AVISO_PASSWORD ?? "" }),
});
const queue = env.AVISO_QUEUE ?? "jobs";

aviso.on("status", (status) => {
  if (status.state === "connected") console.error(`connected to ${status.url} as ${status.username}`);
  if (status.state === "disconnected")
    console.error(`disconnected (${status.reason}); retrying in ${status.reconnectInMs} ms`);
});

/** The work. Here: a payload `{ fail: true }` fails, anything else succeeds. */
async function handle(job: QueueMessage): Promise<string> {
  if (typeof job.payload === "object" && job.payload !== null && "fail" in job.payload) {
    throw new Error("this job always fails");
  }
  return JSON.stringify(job.payload);
}

const jobs = aviso.queues.subscribe(queue, { prefetch: 10 });
const stop = () => void aviso.close();
process.once("SIGINT", stop);
process.once("SIGTERM", stop);

console.error(`consuming ${queue}`);
for await (const job of jobs) {
  try {
    const result = await handle(job);
    await job.ack();
    console.log(`done ${job.id} ${result}`);
  } catch (error) {
    await job.nack({ delayMs: 1000 });
    console.log(`failed ${job.id} (delivery ${job.deliveries}): ${(error as Error).message}`);
  }
}
console.error("stopped");
