/**
 * NATS JetStream (Debian's nats-server 2.9) for bench/peers: a server of our
 * own (own ports and store dir), a work-queue stream on file storage (a
 * message is removed when acked), acknowledged publishes, one durable pull
 * consumer with explicit acks shared by the consumers. JetStream acks a
 * publish after writing its file store WITHOUT a per-message fsync
 * (sync_interval defaults to 2 minutes): say so beside any comparison.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AckPolicy,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { probePort } from "../../scripts/cluster/ports.ts";
import { spawnLogged, stopPid } from "../../scripts/cluster/processes.ts";
import { waitUntil } from "../lib/bounded.ts";
import { onCleanup } from "../lib/cleanup.ts";
import { note } from "../lib/report.ts";
import { PeerConsumer, WindowPublisher } from "./peer-client.ts";
import type { Target, WorkloadSettings } from "./workload.ts";

const STREAM = "BENCH";
const SUBJECT = "bench.q";
const CONSUMER = "bench";

async function startServer(): Promise<{ port: number; pid: number }> {
  const dir = await mkdtemp(join(tmpdir(), "aviso-peers-nats-"));
  onCleanup("remove NATS data dir", () => rm(dir, { recursive: true, force: true }));
  const [port, httpPort] = [await probePort(0), await probePort(0)];
  const config = join(dir, "nats.conf");
  await writeFile(
    config,
    `listen: 127.0.0.1:${port}\nhttp: 127.0.0.1:${httpPort}\njetstream { store_dir: "${join(dir, "js")}" }\n`,
  );
  note(`starting nats-server on port ${port} (data in ${dir})`);
  const child = spawnLogged("nats-server", ["-c", config], { logFile: join(dir, "nats.log") });
  const pid = child.pid as number;
  child.unref();
  onCleanup(`stop nats-server pid ${pid}`, async () => void (await stopPid(pid, 10_000)));
  return { port, pid };
}

async function connectTo(port: number): Promise<NatsConnection> {
  const connection = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
  onCleanup("close a NATS connection", () => connection.close().catch(() => undefined));
  return connection;
}

export async function startNats(settings: WorkloadSettings): Promise<Target> {
  const server = await startServer();
  let admin: NatsConnection | undefined;
  await waitUntil(
    "nats-server to accept connections",
    async () => {
      admin = await connectTo(server.port).catch(() => undefined);
      return admin !== undefined;
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  const manager = await jetstreamManager(admin as NatsConnection);
  await manager.streams.add({
    name: STREAM,
    subjects: [SUBJECT],
    storage: StorageType.File,
    retention: RetentionPolicy.Workqueue,
  });
  await manager.consumers.add(STREAM, {
    durable_name: CONSUMER,
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: settings.consumers * settings.prefetch,
  });
  return {
    name: "NATS JetStream",
    detail: "2.9 file storage (no per-message fsync), acked publishes, explicit acks",
    pids: { broker: server.pid },
    async publisher(_index, measuring) {
      const js = jetstream(await connectTo(server.port));
      return new WindowPublisher((body) => js.publish(SUBJECT, body), {
        window: settings.inflight,
        payloadBytes: settings.payloadBytes,
        measuring,
        onClose: () => undefined,
      });
    },
    async consumer(_index, measuring) {
      const js = jetstream(await connectTo(server.port));
      const messages = await (await js.consumers.get(STREAM, CONSUMER)).consume({
        max_messages: settings.prefetch,
      });
      const consumer = new PeerConsumer<JsMsg>(
        { ackBatch: settings.ackBatch, ackEveryMs: settings.ackEveryMs, measuring },
        // Explicit acks are per message; the client writes a batch's acks together.
        (batch) => {
          for (const message of batch) message.ack();
        },
        () => messages.stop(),
      );
      void (async () => {
        for await (const message of messages) consumer.onDelivery(message.data, message.redelivered, message);
      })().catch((error: unknown) => consumer.onError(error));
      return consumer;
    },
    async remaining() {
      // A work-queue stream drops a message once it is acked: what is left is ready + unacked.
      return (await manager.streams.info(STREAM)).state.messages;
    },
  };
}
