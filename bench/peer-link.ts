/**
 * Peer link transports compared: @grpc/grpc-js vs @connectrpc/connect-node,
 * as server and as client, on the real PeerService (protobuf-es messages).
 *
 *   node --import tsx bench/peer-link.ts [--seconds 3] [--only inproc|cross]
 *
 * Measures (a) unary PublishBatch calls/s at concurrency 32, (b) messages/s on
 * one server stream (Feed) and one bidi stream (Consume: ack → settled
 * echoes, pipelined), (c) p50/p99 of one small unary call at a time — with
 * client and server in one process ("inproc") and in two processes on
 * loopback ("cross"). Every pairing of server and client library is run, so
 * each side can be judged on its own, plus the real link (src/cluster/peer:
 * publish batching, 500-message feed batches, coalesced acks) as "aviso".
 * The servers answer at once (no engine): this is the cost of the link alone.
 * Rates are also given per CPU-second of client + server, which stays
 * comparable when other processes share the machine's cores.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createClient, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import type { ServingNodes } from "../src/app/serving-nodes.ts";
import type { TopicFeed } from "../src/broker/topic/topic-ports.ts";
import type { TopicMessage } from "../src/broker/types.ts";
import {
  type ConsumeRequest,
  ConsumeRequestSchema,
  type ConsumeResponse,
  ConsumeResponseSchema,
  FeedRequestSchema,
  FeedResponseSchema,
  PeerService,
  PublishBatchRequestSchema,
  PublishBatchResponseSchema,
  ResourceKind,
  TopicHeadRequestSchema,
  TopicHeadResponseSchema,
} from "../src/cluster/peer/gen/aviso/peer/v1/peer_pb.ts";
import { createPeerClient } from "../src/cluster/peer/peer-client.ts";
import {
  peerServiceDefinition as def,
  untypedPeerServiceDefinition,
} from "../src/cluster/peer/peer-definition.ts";
import { startPeerServer } from "../src/cluster/peer/peer-server.ts";
import { AvisoError } from "../src/errors/aviso-error.ts";

type Library = "grpc-js" | "connect" | "aviso";
const libraries: Library[] = ["grpc-js", "connect"];

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    only: { type: "string" },
    serve: { type: "string" },
  },
});
const seconds = Number(args.seconds);
const STREAM_MESSAGES = Number(process.env.BENCH_STREAM_MESSAGES ?? 30_000);
const LATENCY_CALLS = 3_000;
const CONCURRENCY = 32;
const payloadJson = JSON.stringify({ data: "x".repeat(100) });

// ---- servers: the same trivial behaviour in both libraries ----

const publishReply = create(PublishBatchResponseSchema, {
  results: [{ outcome: { case: "ids", value: { ids: ["1"] } } }],
});
const headReply = create(TopicHeadResponseSchema, { nextOffset: 1n, firstOffset: 0n });
const batchEvent = (offset: number) =>
  create(FeedResponseSchema, {
    event: {
      case: "batch",
      value: {
        messages: [{ offset: BigInt(offset), key: "a.b", payloadJson, publishedAt: 1_700_000_000_000n }],
      },
    },
  });
/** One settled answer per request message: the raw per-message cost of a bidi stream. */
const settledFor = (request: ConsumeRequest): ConsumeResponse => {
  const first = request.request.case === "settles" ? request.request.value.settles[0]?.settle : undefined;
  const requestId = first?.case === "ack" ? first.value.requestId : 0;
  return create(ConsumeResponseSchema, {
    response: { case: "settled", value: { results: [{ requestId, acked: 1 }] } },
  });
};

interface RunningServer {
  port: number;
  /** CPU seconds the server has used, when it runs in another process. */
  cpuSeconds?(): number;
  close(): Promise<void>;
}

async function startGrpcServer(): Promise<RunningServer> {
  const server = new grpc.Server();
  server.addService(untypedPeerServiceDefinition, {
    publishBatch: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, publishReply),
    topicHead: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, headReply),
    feed: (call: grpc.ServerWritableStream<{ fromOffset?: bigint }, unknown>) => {
      const count = Number(call.request.fromOffset ?? 0n);
      let offset = 0;
      const pump = (): void => {
        while (offset < count) {
          if (!call.write(batchEvent(offset++))) return void call.once("drain", pump);
        }
        call.end();
      };
      pump();
    },
    consume: (call: grpc.ServerDuplexStream<ConsumeRequest, ConsumeResponse>) => {
      call.on("data", (request: ConsumeRequest) => call.write(settledFor(request)));
      call.on("end", () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  return {
    port,
    close: async () => {
      server.forceShutdown();
    },
  };
}

async function startConnectServer(): Promise<RunningServer> {
  const impl: Partial<ServiceImpl<typeof PeerService>> = {
    publishBatch: () => publishReply,
    topicHead: () => headReply,
    async *feed(request) {
      for (let offset = 0; offset < Number(request.fromOffset ?? 0n); offset++) yield batchEvent(offset);
    },
    async *consume(requests) {
      for await (const request of requests) yield settledFor(request);
    },
  };
  const handler = connectNodeAdapter({
    routes: (router) => router.service(PeerService, impl),
    grpc: true,
    grpcWeb: false,
    connect: false,
  });
  const server = http2.createServer(handler);
  // server.close() waits for open sessions, and clients keep theirs open.
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}

// ---- clients ----

interface BenchClient {
  publish(): Promise<void>;
  head(): Promise<void>;
  /** Resolves once `count` batch events arrived on one Feed stream. */
  feed(count: number): Promise<void>;
  /** Sends `count` acks on one Consume stream; resolves once every settled echo arrived. */
  bidi(count: number): Promise<void>;
  close(): void;
}

const publishRequest = create(PublishBatchRequestSchema, {
  entries: [{ kind: ResourceKind.QUEUE, name: "q", inputs: [{ payloadJson }] }],
});
const headRequest = create(TopicHeadRequestSchema, { topic: "t" });
const ackRequest = (requestId: number) =>
  create(ConsumeRequestSchema, {
    request: {
      case: "settles",
      value: { settles: [{ settle: { case: "ack", value: { requestId, ids: ["1"] } } }] },
    },
  });

function grpcClient(port: number): BenchClient {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const unary = <Req, Res>(method: grpc.MethodDefinition<Req, Res>, request: Req) =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        (e) => (e === null ? resolve() : reject(e)),
      ),
    );
  return {
    publish: () => unary(def.publishBatch, publishRequest),
    head: () => unary(def.topicHead, headRequest),
    feed: (count) =>
      new Promise((resolve, reject) => {
        const call = client.makeServerStreamRequest(
          def.feed.path,
          def.feed.requestSerialize,
          def.feed.responseDeserialize,
          create(FeedRequestSchema, { topic: "t", fromOffset: BigInt(count) }),
        );
        let received = 0;
        call.on("data", () => {
          received++;
        });
        call.on("error", reject);
        call.on("end", () => (received === count ? resolve() : reject(new Error(`got ${received}`))));
      }),
    bidi: (count) =>
      new Promise((resolve, reject) => {
        const call = client.makeBidiStreamRequest(
          def.consume.path,
          def.consume.requestSerialize,
          def.consume.responseDeserialize,
        );
        let received = 0;
        call.on("data", () => {
          if (++received === count) call.end();
        });
        call.on("error", reject);
        call.on("end", () => resolve());
        let sent = 0;
        const pump = (): void => {
          while (sent < count) {
            if (!call.write(ackRequest(sent++))) return void call.once("drain", pump);
          }
        };
        pump();
      }),
    close: () => client.close(),
  };
}

function connectClient(port: number): BenchClient {
  const client = createClient(PeerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  return {
    publish: async () => {
      await client.publishBatch(publishRequest);
    },
    head: async () => {
      await client.topicHead(headRequest);
    },
    feed: async (count) => {
      let received = 0;
      for await (const _event of client.feed({ topic: "t", fromOffset: BigInt(count) })) received++;
      if (received !== count) throw new Error(`got ${received}`);
    },
    bidi: async (count) => {
      async function* acks() {
        for (let i = 0; i < count; i++) yield ackRequest(i);
      }
      let received = 0;
      for await (const _settled of client.consume(acks())) received++;
      if (received !== count) throw new Error(`got ${received}`);
    },
    close: () => {},
  };
}

// ---- the real peer link (src/cluster/peer) over an instant fake owner ----

function benchOwners(): ServingNodes {
  const unsupported = () => Promise.reject(new AvisoError("INTERNAL", "not used by the bench"));
  const message = (offset: number): TopicMessage => ({
    offset,
    key: "a.b",
    payload: payloadJson,
    headers: null,
    publishedAt: 1_700_000_000_000,
  });
  // The topic's name is the number of messages it holds; Feed from 0 streams them as history.
  const feedOf = (topic: string): TopicFeed => ({
    name: topic,
    nextOffset: () => Number(topic),
    firstOffset: () => 0,
    read: async (from, limit) =>
      Array.from({ length: Math.max(0, Math.min(limit, Number(topic) - from)) }, (_, i) => message(from + i)),
    onCommitted: () => () => {},
    onEnded: () => () => {},
  });
  return {
    queues: {
      publish: async (_queue, inputs) => inputs.map(() => "1"),
      receive: unsupported,
      ack: unsupported,
      nack: unsupported,
      consume: async (_queue, _sink, prefetch) => ({
        prefetch,
        ack: async () => ({ acked: 1, stale: [] }),
        nack: async () => ({ acked: 1, stale: [] }),
        resume: () => {},
        close: () => {},
      }),
      stats: async () => undefined,
    },
    topics: {
      publish: unsupported,
      head: async () => ({ nextOffset: 1, firstOffset: 0 }),
      feed: async (topic) => feedOf(topic),
    },
    release: () => {},
    bindingCreated: unsupported,
    bindingRemoved: unsupported,
    close: async () => {},
  };
}

async function startAvisoServer(): Promise<RunningServer> {
  const server = await startPeerServer({
    host: "127.0.0.1",
    port: 0,
    clusterSecret: "bench",
    handler: { servingNodes: benchOwners(), notify: async () => {} },
  });
  return { port: server.port, close: () => server.close() };
}

function avisoClient(port: number): BenchClient {
  const peer = createPeerClient({ peerUrl: `127.0.0.1:${port}`, clusterSecret: "bench" });
  const input = { payload: payloadJson, headers: null, delayMs: 0 };
  return {
    publish: async () => {
      await peer.queues.publish("q", [input]);
    },
    head: async () => {
      await peer.topics.head("t");
    },
    feed: async (count) => {
      const feed = await peer.topics.feed(String(count), 0);
      await new Promise<void>((resolve) => {
        feed.onCommitted(() => {
          if (feed.nextOffset() >= count) resolve();
        });
      });
      feed.close();
    },
    bidi: async (count) => {
      const sink = { deliver: () => {}, closed: () => {} };
      const consumer = await peer.queues.consume("q", sink, 1);
      await Promise.all(Array.from({ length: count }, () => consumer.ack(["1"])));
      consumer.close();
    },
    close: () => peer.close(),
  };
}

// ---- measurements ----

/** A rate and the same work per CPU-second of client + server (robust when other processes share the cores). */
interface Rate {
  perSecond: number;
  perCpuSecond: number;
}

type CpuClock = () => number;

async function timed(cpu: CpuClock, work: () => Promise<number>): Promise<Rate> {
  const started = performance.now();
  const cpuStarted = cpu();
  const count = await work();
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: count / seconds, perCpuSecond: count / (cpu() - cpuStarted) };
}

async function unaryRate(client: BenchClient, cpu: CpuClock): Promise<Rate> {
  const run = async (forMs: number): Promise<number> => {
    const until = performance.now() + forMs;
    let calls = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < until) {
          await client.publish();
          calls++;
        }
      }),
    );
    return calls;
  };
  await run(1000); // JIT warm-up
  return timed(cpu, () => run(seconds * 1000));
}

async function streamRate(cpu: CpuClock, run: (count: number) => Promise<void>): Promise<Rate> {
  await run(2_000);
  return timed(cpu, async () => {
    await run(STREAM_MESSAGES);
    return STREAM_MESSAGES;
  });
}

async function latency(client: BenchClient): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 300; i++) await client.head();
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_CALLS; i++) {
    const started = performance.now();
    await client.head();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

/** utime + stime of another process, from /proc (clock ticks of 1/100 s on Linux). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

const startServer = (library: Library): Promise<RunningServer> =>
  library === "grpc-js"
    ? startGrpcServer()
    : library === "connect"
      ? startConnectServer()
      : startAvisoServer();
const makeClient = (library: Library, port: number): BenchClient =>
  library === "grpc-js" ? grpcClient(port) : library === "connect" ? connectClient(port) : avisoClient(port);

/** Runs the server in a child process; resolves with its port once it listens. */
function startServerProcess(library: Library): Promise<RunningServer> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", new URL(import.meta.url).pathname, "--serve", library],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", (line) =>
      resolve({
        port: Number(line),
        cpuSeconds: () => processCpuSeconds(child.pid ?? 0),
        close: () =>
          new Promise((done) => {
            child.removeAllListeners("exit");
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      }),
    );
  });
}

interface Row {
  mode: string;
  server: Library;
  client: Library;
  unary: Rate;
  feed: Rate;
  bidi: Rate;
  p50: number;
  p99: number;
}

async function measure(mode: "inproc" | "cross", server: Library, clientLibrary: Library): Promise<Row> {
  const running = mode === "inproc" ? await startServer(server) : await startServerProcess(server);
  const client = makeClient(clientLibrary, running.port);
  const serverCpu = running.cpuSeconds;
  const cpu: CpuClock = serverCpu === undefined ? ownCpuSeconds : () => ownCpuSeconds() + serverCpu();
  try {
    const step = <T>(what: string, run: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      return run().finally(() =>
        console.error(
          `  ${mode} ${server} <- ${clientLibrary}: ${what} ${Math.round(performance.now() - started)} ms`,
        ),
      );
    };
    await client.head();
    const unary = await step("unary", () => unaryRate(client, cpu));
    const feed = await step("feed", () => streamRate(cpu, (count) => client.feed(count)));
    const bidi = await step("bidi", () => streamRate(cpu, (count) => client.bidi(count)));
    const { p50, p99 } = await step("latency", () => latency(client));
    return { mode, server, client: clientLibrary, unary, feed, bidi, p50, p99 };
  } finally {
    client.close();
    await running.close();
  }
}

async function main(): Promise<void> {
  if (args.serve !== undefined) {
    const running = await startServer(args.serve as Library);
    process.stdout.write(`${running.port}\n`);
    process.once("SIGTERM", () => void running.close().then(() => process.exit(0)));
    return;
  }
  const modes = (["inproc", "cross"] as const).filter(
    (mode) => args.only === undefined || args.only === mode,
  );
  const rows: Row[] = [];
  const pairs: Array<[Library, Library]> = [
    ...libraries.flatMap((server) => libraries.map((client): [Library, Library] => [server, client])),
    ["aviso", "aviso"],
  ];
  for (const mode of modes) {
    for (const [server, client] of pairs) {
      const row = await measure(mode, server, client);
      rows.push(row);
      console.error(`done ${mode} ${server} <- ${client}`);
    }
  }
  console.log(
    "aviso = src/cluster/peer (grpc-js + protobuf-es): publishes batched per tick, feed batches of 500,",
  );
  console.log("acks coalesced per tick. Each rate: per second / per CPU-second of client + server.");
  console.log(
    "| mode | server | client | PublishBatch calls (c=32; aviso: publishes) | Feed msgs | Consume bidi msgs | p50 ms | p99 ms |",
  );
  console.log("|---|---|---|---:|---:|---:|---:|---:|");
  const rate = (r: Rate) => `${Math.round(r.perSecond)} / ${Math.round(r.perCpuSecond)}`;
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${r.server} | ${r.client} | ${rate(r.unary)} | ${rate(r.feed)} | ${rate(r.bidi)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |`,
    );
  }
}

await main();
