/**
 * RabbitMQ (Debian's 3.10) for bench/peers: a node of our own (own ports,
 * HOME, data dir, epmd port), a quorum queue (durable; a publish is confirmed
 * after the Raft WAL fsync), confirm channels, manual acks. Stopped with
 * `rabbitmqctl stop`, then by the pid file's PID, then the epmd PID that
 * appeared for our epmd port — never by name (docs: shared/ENVIRONMENT.md).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import amqp from "amqplib";
import { probePort } from "../../scripts/cluster/ports.ts";
import { isAlive, stopPid } from "../../scripts/cluster/processes.ts";
import { waitUntil } from "../lib/bounded.ts";
import { onCleanup } from "../lib/cleanup.ts";
import { note } from "../lib/report.ts";
import { PeerConsumer, WindowPublisher } from "./peer-client.ts";
import type { Target, WorkloadSettings } from "./workload.ts";

const run = promisify(execFile);
const BIN = "/usr/lib/rabbitmq/bin";

/**
 * PIDs of processes named `comm` that are ours: their command line
 * (`cmdline`) or environment (`environ`) holds `marker`, which is unique to
 * this run (our data dir, our epmd port). So a stop never hits another
 * helper's RabbitMQ or epmd, and a node that never wrote its pid file is found too.
 */
async function ourPids(comm: string, file: "cmdline" | "environ", marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if ((await readFile(`/proc/${pid}/comm`, "utf8")).trim() !== comm) continue;
      if ((await readFile(`/proc/${pid}/${file}`, "utf8")).split("\0").includes(marker)) found.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/**
 * A connection whose asynchronous errors (e.g. the broker shutting down on
 * Ctrl-C) are noted instead of crashing the run before its cleanup; the
 * publishes and acks they break are counted as errors where they fail.
 */
async function connectAmqp(url: string) {
  const connection = await amqp.connect(url);
  connection.on("error", (error: unknown) => note(`RabbitMQ connection: ${String(error).slice(0, 200)}`));
  return connection;
}

function quiet<Channel extends amqp.Channel>(channel: Channel): Channel {
  channel.on("error", (error: unknown) => note(`RabbitMQ channel: ${String(error).slice(0, 200)}`));
  return channel;
}

async function startServer(): Promise<{
  port: number;
  pid: number;
  ctl: (...args: string[]) => Promise<string>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "aviso-peers-rabbitmq-"));
  onCleanup("remove RabbitMQ data dir", () => rm(dir, { recursive: true, force: true }));
  const [port, distPort, epmdPort] = [await probePort(0), await probePort(0), await probePort(0)];
  const nodeName = `aviso-bench-${process.pid}@localhost`;
  await writeFile(join(dir, "rabbitmq.conf"), `listeners.tcp.default = ${port}\n`);
  await writeFile(join(dir, "enabled_plugins"), "[].\n");
  const env = {
    ...process.env,
    HOME: dir,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_PID_FILE: join(dir, "rabbitmq.pid"),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_ADDRESS: "127.0.0.1",
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:
      "-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none",
  };
  const ctl = async (...args: string[]) =>
    (await run(`${BIN}/rabbitmqctl`, ["-n", nodeName, ...args], { env, cwd: dir, timeout: 60_000 })).stdout;
  // Registered before starting, so a failed or half-done start is cleaned up too.
  onCleanup("stop RabbitMQ", async () => {
    const beams = await ourPids("beam.smp", "cmdline", dir);
    await ctl("stop").catch((error: unknown) => note(`rabbitmqctl stop: ${String(error).slice(0, 200)}`));
    for (const pid of beams) await stopPid(pid, 15_000);
    for (const pid of await ourPids("epmd", "environ", `ERL_EPMD_PORT=${epmdPort}`))
      await stopPid(pid, 5_000);
  });
  note(`starting RabbitMQ on port ${port} (data in ${dir})`);
  await run(`${BIN}/rabbitmq-server`, ["-detached"], { env, cwd: dir, timeout: 30_000 });
  // await_startup gives up at once while the node has not registered with epmd yet: retry, bounded.
  await waitUntil(
    "RabbitMQ to start",
    () =>
      ctl("await_startup", "--timeout", "60").then(
        () => true,
        () => false,
      ),
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  const pid = Number((await readFile(env.RABBITMQ_PID_FILE, "utf8")).trim());
  if (!isAlive(pid)) throw new Error(`RabbitMQ pid file names ${pid}, which is not running`);
  return { port, pid, ctl };
}

export async function startRabbitmq(settings: WorkloadSettings): Promise<Target> {
  const server = await startServer();
  const url = `amqp://guest:guest@127.0.0.1:${server.port}`;
  const queue = `bench-${process.pid}`;
  const admin = await connectAmqp(url);
  onCleanup("close RabbitMQ admin connection", () => admin.close().catch(() => undefined));
  const adminChannel = quiet(await admin.createChannel());
  await adminChannel.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  return {
    name: "RabbitMQ",
    detail: "3.10 quorum queue, publisher confirms, manual acks",
    pids: { broker: server.pid },
    async publisher(_index, measuring) {
      const connection = await connectAmqp(url);
      const channel = quiet(await connection.createConfirmChannel());
      const publishOne = (body: Buffer) =>
        new Promise<void>((resolve, reject) => {
          channel.sendToQueue(queue, body, { persistent: true }, (error) =>
            error ? reject(error) : resolve(),
          );
        });
      return new WindowPublisher(publishOne, {
        window: settings.inflight,
        payloadBytes: settings.payloadBytes,
        measuring,
        onClose: () => void connection.close().catch(() => undefined),
      });
    },
    async consumer(_index, measuring) {
      const connection = await connectAmqp(url);
      const channel = quiet(await connection.createChannel());
      await channel.prefetch(settings.prefetch);
      const consumer = new PeerConsumer<amqp.ConsumeMessage>(
        { ackBatch: settings.ackBatch, ackEveryMs: settings.ackEveryMs, measuring },
        // Deliveries on one channel are acked in order: acking the last with allUpTo acks the batch.
        (messages) => channel.ack(messages[messages.length - 1] as amqp.ConsumeMessage, true),
        () => void connection.close().catch(() => undefined),
      );
      await channel.consume(queue, (message) => {
        if (message === null) consumer.onError(new Error("consumer cancelled by the broker"));
        else consumer.onDelivery(message.content, message.fields.redelivered, message);
      });
      return consumer;
    },
    async remaining() {
      // `messages` = ready + unacknowledged; checkQueue over AMQP would only count ready ones.
      const out = await server.ctl("list_queues", "-q", "--no-table-headers", "name", "messages");
      const line = out.split("\n").find((row) => row.startsWith(`${queue}\t`));
      return Number(line?.split("\t")[1] ?? Number.NaN);
    },
  };
}
