import { afterAll, afterEach, beforeAll } from "vitest";
import WebSocket from "ws";
import { Api, newUser, uniqueName } from "../../../../test/helpers/api.ts";
import { startCluster, type TestCluster } from "../../../../test/helpers/cluster.ts";
import { eventually } from "../../../../test/helpers/eventually.ts";
import { createTestDatabase } from "../../../../test/helpers/mariadb.ts";
import {
  type AvisoClient,
  type ClientOptionsInput,
  type ConnectionStatus,
  createClient,
  type WebSocketConstructor,
  type WebSocketLike,
} from "../../src/index.ts";

export const NODE_COUNT = 3;
/** Short, so an owner's death is noticed within seconds. */
export const ZK_SESSION_TIMEOUT_MS = 3000;

export const nodeId = (index: number): string => `node-${index}`;

export interface Credentials {
  username: string;
  password: string;
}

export interface SdkCluster {
  readonly cluster: TestCluster;
  /** URL of live node `index`. */
  url(index: number): string;
  /** URLs of the nodes in this order (the SDK tries them in it with randomizeUrls off). */
  urls(order: readonly number[]): string[];
  /** A fresh registered user. */
  user(): Promise<Credentials>;
  /** An SDK client closed after the test; tries `urls` in order. */
  client(
    urls: readonly string[],
    credentials: Credentials,
    options?: Partial<ClientOptionsInput>,
  ): AvisoClient;
  /** The node whose GET /v1/cluster lists `name` as owned (asked through the SDK, node by node). */
  servingNodeOf(kind: "queue" | "topic", name: string): Promise<number>;
  /** kill -9; resolves once the process is gone (it is started again after the test). */
  kill(index: number): Promise<void>;
}

/**
 * One 3-node cluster (ZooKeeper + MariaDB + node processes) for the file.
 * After each test its SDK clients are closed, killed nodes are started
 * again and every node must see all three members, so each test starts
 * from a whole cluster.
 */
export function useSdkCluster(): SdkCluster {
  let cluster: TestCluster | undefined;
  /** Token of an operator that asks the nodes for their cluster view (owned lists are node-wide). */
  let adminToken: string | undefined;
  const adminName = uniqueName("sdk-admin");
  const clients = new Set<AvisoClient>();

  const running = (): TestCluster => {
    if (cluster === undefined) throw new Error("the cluster is not started yet");
    return cluster;
  };

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: NODE_COUNT,
      store: await createTestDatabase("sdk_failover"),
      zkSessionTimeoutMs: ZK_SESSION_TIMEOUT_MS,
      // /v1/cluster lists owned resources to operators only (docs/security.md S7).
      env: { AVISO_OPERATORS: adminName },
    });
    const anonymous = new Api(cluster.node(0).url);
    const credentials = { username: adminName, password: "correct horse battery" };
    if ((await anonymous.post("/v1/auth/register", credentials)).status !== 201)
      throw new Error("register failed");
    adminToken = (await anonymous.post<{ token: string }>("/v1/auth/login", credentials)).body.token;
    await waitForWholeCluster();
  });

  afterEach(async () => {
    await Promise.all([...clients].map((client) => client.close()));
    clients.clear();
    const current = running();
    const dead = current.nodes.flatMap((node, index) => (node === undefined ? [index] : []));
    await Promise.all(dead.map((index) => current.start(index)));
    await waitForWholeCluster();
  });

  afterAll(async () => {
    await Promise.all([...clients].map((client) => client.close()));
    await cluster?.stop();
  });

  function client(
    urls: readonly string[],
    credentials: Credentials,
    options: Partial<ClientOptionsInput> = {},
  ): AvisoClient {
    const created = createClient({ urls, ...credentials, randomizeUrls: false, ...options });
    clients.add(created);
    return created;
  }

  /** Each node, asked through a client that knows only that node. */
  async function views() {
    const current = running();
    const token = adminToken as string;
    return Promise.all(
      current.nodes.map(async (node, index) => {
        if (node === undefined) return null;
        const single = createClient({ urls: [node.url], token, retryForMs: 2000 });
        try {
          return { index, view: await single.cluster() };
        } finally {
          await single.close();
        }
      }),
    );
  }

  async function waitForWholeCluster(): Promise<void> {
    await eventually(
      async () => {
        for (const answer of await views()) {
          if (answer === null) throw new Error("a node is not running");
          if (answer.view.self.id !== nodeId(answer.index)) throw new Error("unexpected node id");
          const members = answer.view.members.map((member) => member.id).sort();
          if (members.join(",") !== "node-0,node-1,node-2") {
            throw new Error(`${nodeId(answer.index)} sees ${members.join(",")}`);
          }
        }
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }

  return {
    get cluster() {
      return running();
    },
    url: (index) => running().node(index).url,
    urls: (order) => order.map((index) => running().node(index).url),
    async user() {
      const { username, password } = await newUser(running().anyUrl(), "sdk");
      return { username, password };
    },
    client,
    async servingNodeOf(kind, name) {
      return eventually(
        async () => {
          const servingNodes = (await views()).flatMap((answer) => {
            if (answer === null) return [];
            if (answer.view.owned === undefined) throw new Error("the cluster view lists no owned resources");
            const owned = kind === "queue" ? answer.view.owned.queues : answer.view.owned.topics;
            return owned.includes(name) ? [answer.index] : [];
          });
          if (servingNodes.length !== 1)
            throw new Error(`${kind} ${name} is owned by [${servingNodes.join(",")}]`);
          return servingNodes[0] as number;
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
    },
    async kill(index) {
      await running().kill(index, "SIGKILL");
    },
  };
}

/**
 * Wakes waiters whose condition became true; conditions are re-checked on
 * every `notify()` (each message, each acknowledged publish), never on a timer.
 */
export class Progress {
  private readonly waiters = new Set<{ check: () => boolean; resolve: (met: boolean) => void }>();

  notify(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.check()) {
        this.waiters.delete(waiter);
        waiter.resolve(true);
      }
    }
  }

  /** Resolves true once `check()` holds, false if it still does not after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        check,
        resolve: (met: boolean) => {
          clearTimeout(timer);
          resolve(met);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

export interface Published<R> {
  result: R;
  ackedAt: number;
}

export interface PublishStream<R> {
  /** seq → what the publish answered, for every acknowledged publish. */
  readonly acked: Map<number, Published<R>>;
  readonly failures: Array<{ seq: number; error: string }>;
  /** Settles when every seq was published or failed. */
  readonly done: Promise<void>;
}

/** Publishes seqs 0..count-1 over `lanes` concurrent lanes, each waiting for its previous answer. */
export function publishStream<R>(
  count: number,
  lanes: number,
  publish: (seq: number) => Promise<R>,
  progress: Progress,
): PublishStream<R> {
  const acked = new Map<number, Published<R>>();
  const failures: Array<{ seq: number; error: string }> = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const seq = next++;
      try {
        acked.set(seq, { result: await publish(seq), ackedAt: Date.now() });
      } catch (error) {
        failures.push({ seq, error: error instanceof Error ? error.message : String(error) });
      }
      progress.notify();
    }
  };
  const done = Promise.all(Array.from({ length: lanes }, lane)).then(() => {});
  return { acked, failures, done };
}

/** Every delivery of each seq, with when it arrived. */
export class Deliveries<Extra = Record<string, never>> {
  private readonly bySeq = new Map<number, number>();
  readonly log: Array<{ seq: number; at: number } & Extra> = [];

  record(seq: number, extra: Extra): void {
    this.bySeq.set(seq, (this.bySeq.get(seq) ?? 0) + 1);
    this.log.push({ seq, at: Date.now(), ...extra });
  }

  has(seq: number): boolean {
    return this.bySeq.has(seq);
  }

  get distinct(): number {
    return this.bySeq.size;
  }

  /** Deliveries beyond the first of each seq. */
  get duplicates(): number {
    return this.log.length - this.bySeq.size;
  }

  /** Acknowledged seqs never delivered. */
  missing(acked: Iterable<number>): number[] {
    return [...acked].filter((seq) => !this.bySeq.has(seq)).sort((a, b) => a - b);
  }
}

/** The first time the client reported its socket gone at or after `since`, and when it was back. */
export function watchReconnect(client: AvisoClient, since: () => number | null) {
  const seen: { disconnectedAt: number | null; reconnectedAt: number | null; url: string | null } = {
    disconnectedAt: null,
    reconnectedAt: null,
    url: null,
  };
  client.on("status", (status: ConnectionStatus) => {
    const start = since();
    if (start === null) return;
    if (status.state === "disconnected" && seen.disconnectedAt === null) seen.disconnectedAt = Date.now();
    if (status.state === "connected" && seen.disconnectedAt !== null && seen.reconnectedAt === null) {
      seen.reconnectedAt = Date.now();
      seen.url = status.url;
    }
  });
  return seen;
}

/**
 * The `ws` WebSocket with every frame the SDK sends reported to `onSend`,
 * so a test can see a publish resent on a new socket with the same key.
 */
export function recordingWebSocket(onSend: (data: string) => void): WebSocketConstructor {
  return class RecordingWebSocket implements WebSocketLike {
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { code: number; reason: string }) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    private readonly socket: WebSocket;

    constructor(url: string) {
      this.socket = new WebSocket(url);
      this.socket.onopen = (event) => this.onopen?.(event);
      this.socket.onmessage = (event) => this.onmessage?.({ data: event.data });
      this.socket.onclose = (event) => this.onclose?.({ code: event.code, reason: event.reason });
      this.socket.onerror = (event) => this.onerror?.(event);
    }

    get readyState(): number {
      return this.socket.readyState;
    }

    send(data: string): void {
      onSend(data);
      this.socket.send(data);
    }

    close(code?: number, reason?: string): void {
      this.socket.close(code, reason);
    }

    terminate(): void {
      this.socket.terminate();
    }
  };
}

/** A fetch that reports the idempotency key of every publish body it sends. */
export function recordingFetch(onKey: (key: string) => void): typeof fetch {
  return (input, init) => {
    if (typeof init?.body === "string" && String(input).endsWith("/messages")) {
      const body = JSON.parse(init.body) as { idempotencyKey?: unknown };
      if (typeof body.idempotencyKey === "string") onKey(body.idempotencyKey);
    }
    return fetch(input, init);
  };
}

/** How often each key was sent; keys sent more than once were retried. */
export class KeyCounter {
  private readonly counts = new Map<string, number>();

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  get retried(): number {
    return [...this.counts.values()].filter((count) => count > 1).length;
  }
}
