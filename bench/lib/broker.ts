/**
 * The system under test: an Aviso node started as a child process (so its
 * CPU and memory are its own), on SQLite in a temp dir or on MySQL — a fresh
 * MariaDB launched by the test harness (innodb_flush_log_at_trx_commit=1,
 * commit before ack) unless a mysql:// URL is given. Everything started here
 * is stopped by PID through the cleanup registry.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newUser } from "../../test/helpers/api.ts";
import { spawnNode } from "../../test/helpers/aviso-node.ts";
import { createDatabaseOn, destroyMariadb, launchMariadb } from "../../test/helpers/mariadb.ts";
import { withTimeout } from "./bounded.ts";
import { onCleanup } from "./cleanup.ts";
import {
  attachProfiler,
  connectInspector,
  type Inspector,
  type ProfileKind,
  type WindowProfiler,
} from "./inspector-profile.ts";
import { note } from "./report.ts";

export type StoreKind = "sqlite" | "mysql";

export interface BrokerOptions {
  store: StoreKind;
  /** Use this MySQL database instead of launching MariaDB. */
  mysqlUrl?: string;
  /** Write a V8 profile of the node over the measured window into this directory. */
  profileDir?: string;
  /** What that profile samples (default cpu). */
  profileKind?: ProfileKind;
  /** Extra AVISO_* settings (and NODE_OPTIONS) for the node. */
  env?: Record<string, string>;
  /** Connect to the node's inspector (Broker.inspector), e.g. to force a garbage collection. */
  inspect?: boolean;
}

export interface Broker {
  url: string;
  wsUrl: string;
  pid: number;
  /** MariaDB's pid when we launched it (its CPU counts too), else null. */
  databasePid: number | null;
  /** The node's store URL (`sqlite:` or `mysql://…`). */
  storeUrl: string;
  storeLabel: string;
  token: string;
  username: string;
  /** Set when profiling: samples the node's CPU over the measured window. */
  profiler: WindowProfiler | null;
  profileDir: string | null;
  /** Set when asked for (BrokerOptions.inspect). */
  inspector: Inspector | null;
}

/** A fresh database on the server at `urlBase`; returns its URL. */
export function createDatabase(urlBase: string): Promise<string> {
  return createDatabaseOn(urlBase, "bench");
}

async function mysqlStore(
  options: BrokerOptions,
): Promise<{ url: string; pid: number | null; label: string }> {
  if (options.mysqlUrl !== undefined) return { url: options.mysqlUrl, pid: null, label: "mysql (given URL)" };
  note("launching MariaDB (innodb_flush_log_at_trx_commit=1)");
  const state = await launchMariadb();
  onCleanup("stop MariaDB", () => destroyMariadb(state.stateFile));
  const base = `mysql://${state.user}:${state.password}@127.0.0.1:${state.port}`;
  return {
    url: await createDatabase(base),
    pid: state.pid,
    label: "mysql (MariaDB, flush_log_at_trx_commit=1)",
  };
}

/** Starts the store (if needed) and a node, registers a user; cleanups are registered as it goes. */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const dataDir = await mkdtemp(join(tmpdir(), "aviso-bench-"));
  onCleanup("remove node data dir", () => rm(dataDir, { recursive: true, force: true }));
  const store =
    options.store === "mysql"
      ? await mysqlStore(options)
      : { url: "sqlite:", pid: null, label: "sqlite (synchronous=FULL)" };
  // One bench user publishes everything: lift the per-user publish rate (10,000/s by default),
  // which a fast run otherwise hits (PUBLISH_RATE_LIMITED) and would measure instead of the broker.
  const env: Record<string, string> = {
    AVISO_PUBLISH_RATE_PER_USER: "10000000",
    AVISO_PUBLISH_BURST_PER_USER: "10000000",
    ...options.env,
  };
  // The inspector lets attachProfiler sample exactly the measured window (Node 20 refuses --cpu-prof here).
  if (options.profileDir !== undefined || options.inspect === true)
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} --inspect=127.0.0.1:0`.trim();
  note(
    `starting node on ${store.label}${options.profileDir ? ` (profiling into ${options.profileDir})` : ""}`,
  );
  const node = await spawnNode({ dataDir, store: store.url, env, startTimeoutMs: 60_000 });
  onCleanup(`stop node pid ${node.pid}`, async () => {
    try {
      await withTimeout("node shutdown", node.kill("SIGTERM"), 20_000);
    } catch {
      await node.kill("SIGKILL");
    }
  });
  const user = await newUser(node.url, "bench");
  const profiler =
    options.profileDir === undefined ? null : await attachProfiler(node.output, options.profileKind);
  if (profiler !== null) onCleanup("detach profiler", async () => profiler.close());
  const inspector = options.inspect === true ? await connectInspector(node.output) : null;
  if (inspector !== null) onCleanup("detach inspector", async () => inspector.close());
  return {
    url: node.url,
    wsUrl: node.wsUrl,
    pid: node.pid,
    databasePid: store.pid,
    storeUrl: store.url,
    storeLabel: store.label,
    token: user.api.token ?? "",
    username: user.username,
    profiler,
    profileDir: options.profileDir ?? null,
    inspector,
  };
}

/** POSTs JSON with the bench user's token; throws unless the status is 2xx. */
export async function postJson(broker: Broker, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${broker.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${broker.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${path} → ${response.status} ${text}`);
  return text === "" ? null : (JSON.parse(text) as unknown);
}

export async function getJson(broker: Broker, path: string): Promise<unknown> {
  const response = await fetch(`${broker.url}${path}`, {
    headers: { authorization: `Bearer ${broker.token}` },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${path} → ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

/** Starts sampling the node's CPU if the run is profiled. */
export async function startProfile(broker: Broker): Promise<void> {
  await broker.profiler?.start();
}

/** Stops sampling and saves the profile; returns its path, or null when not profiling. */
export async function saveProfile(broker: Broker, name: string): Promise<string | null> {
  if (broker.profiler === null || broker.profileDir === null) return null;
  await mkdir(broker.profileDir, { recursive: true });
  const path = await broker.profiler.stopAndSave(broker.profileDir, name);
  note(
    `profile of the node over the measured window: ${path} (read it with bench/profile-top.ts, .heapprofile with bench/alloc-top.ts)`,
  );
  return path;
}
