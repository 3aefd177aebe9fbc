/**
 * Aviso for bench/peers, through the same pieces bench:queue uses: a node
 * started by bench/lib/broker.ts (on SQLite, or on a MariaDB it launches with
 * innodb_flush_log_at_trx_commit=1), WebSocket publishers that wait for each
 * publish's `ok` (sent after the commit) and consumers with a prefetch that
 * ack by id. On MySQL mariadbd's CPU counts as the broker's.
 */
import { randomBytes } from "node:crypto";
import { getJson, postJson, type StoreKind, startBroker } from "../lib/broker.ts";
import { Pacer, payloadOfBytes } from "../lib/pacer.ts";
import { WsPublisher } from "../lib/ws-publisher.ts";
import { QueueConsumer } from "../queue/consumer.ts";
import type { Target, WorkloadSettings } from "./workload.ts";

/** A run never publishes more than this per publisher: a bound on the loop, not a target. */
const MAX_MESSAGES_PER_PUBLISHER = 20_000_000;

export async function startAviso(store: StoreKind, settings: WorkloadSettings): Promise<Target> {
  const broker = await startBroker({ store });
  const queue = `bench-q-${randomBytes(3).toString("hex")}`;
  await postJson(broker, "/v1/queues", { name: queue });
  const pids: Record<string, number> = { broker: broker.pid };
  if (broker.databasePid !== null) pids.database = broker.databasePid;
  return {
    name: store === "mysql" ? "Aviso (MySQL)" : "Aviso (SQLite)",
    detail: broker.storeLabel,
    pids,
    publisher: (_index, measuring) =>
      WsPublisher.start({
        wsUrl: broker.wsUrl,
        token: broker.token,
        target: { queue },
        payloadJson: payloadOfBytes(settings.payloadBytes),
        window: settings.inflight,
        maxMessages: MAX_MESSAGES_PER_PUBLISHER,
        pacer: new Pacer(null),
        measuring,
      }),
    // settings carries prefetch, ackBatch and ackEveryMs.
    consumer: (index, measuring) =>
      QueueConsumer.start({ ...settings, wsUrl: broker.wsUrl, token: broker.token, queue, measuring }, index),
    async remaining() {
      const view = (await getJson(broker, `/v1/queues/${queue}`)) as { depth: number; inFlight: number };
      return view.depth + view.inFlight;
    },
  };
}
