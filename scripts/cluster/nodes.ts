import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { logTail, spawnLogged } from "./processes.ts";

/** One Aviso node process started by the launcher. */
export interface LauncherNode {
  readonly id: string;
  readonly url: string;
  readonly peerPort: number;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process exits, however it exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Settings every node of the cluster shares (AVISO_* names from src/config/schema.ts). */
export interface SharedNodeSettings {
  store: string;
  zk: string;
  zkSessionTimeoutMs: number;
  clusterSecret: string;
  tokenSecret: string;
}

const repoRoot = new URL("../..", import.meta.url).pathname;
const pollIntervalMs = 100;

/** The environment of one cluster node: `npm start` plus these variables. */
export function clusterNodeEnv(
  shared: SharedNodeSettings,
  node: { id: string; port: number; peerPort: number },
): Record<string, string> {
  return {
    AVISO_HOST: "127.0.0.1",
    AVISO_ADVERTISE_HOST: "127.0.0.1",
    AVISO_PORT: String(node.port),
    AVISO_PEER_PORT: String(node.peerPort),
    AVISO_NODE_ID: node.id,
    AVISO_STORE: shared.store,
    AVISO_ZK: shared.zk,
    AVISO_ZK_SESSION_TIMEOUT_MS: String(shared.zkSessionTimeoutMs),
    AVISO_CLUSTER_SECRET: shared.clusterSecret,
    AVISO_TOKEN_SECRET: shared.tokenSecret,
  };
}

/**
 * Starts the node's entry from source (src/main.ts, what `npm run dev` runs)
 * for one node. The data dir goes on the command line (not only the
 * environment) so a later launcher can tell
 * a leftover node of this data dir from any other process.
 */
export async function spawnClusterNode(options: {
  id: string;
  port: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  shared: SharedNodeSettings;
}): Promise<LauncherNode> {
  await mkdir(options.dataDir, { recursive: true });
  const child = spawnLogged(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "--data-dir", options.dataDir],
    {
      cwd: repoRoot,
      logFile: options.logFile,
      env: { ...process.env, ...clusterNodeEnv(options.shared, options) },
    },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  return {
    id: options.id,
    url: `http://127.0.0.1:${options.port}`,
    peerPort: options.peerPort,
    child,
    pid: child.pid as number,
    logFile: options.logFile,
    exited,
  };
}

/** Resolves once GET /readyz answers 200; throws with the log's tail if the node exits or the deadline passes. */
export async function waitNodeReady(node: LauncherNode, deadlineAtMs: number): Promise<void> {
  let last = "no answer yet";
  while (Date.now() < deadlineAtMs) {
    if (hasExited(node)) {
      throw new Error(`${node.id} exited before it was ready; ${node.logFile}:\n${logTail(node.logFile)}`);
    }
    try {
      const response = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(pollIntervalMs);
  }
  throw new Error(`${node.id} not ready at ${node.url} in time (last: ${last}); see ${node.logFile}`);
}

/**
 * Runs `use` with the token of a user registered for it and deleted after:
 * GET /v1/cluster needs a live user (tokens carry their user's version, so a
 * token minted for nobody is refused), and the launcher leaves no account behind.
 */
export async function asThrowawayUser<T>(url: string, use: (token: string) => Promise<T>): Promise<T> {
  const credentials = {
    username: `aviso-launcher-${randomBytes(4).toString("hex")}`,
    password: randomBytes(18).toString("base64url"),
  };
  const post = (path: string, body: unknown, token?: string) =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  const registered = await post("/v1/auth/register", credentials);
  if (registered.status !== 201) {
    throw new Error(
      `could not register the launcher's user: ${registered.status} ${await registered.text()}`,
    );
  }
  const login = await post("/v1/auth/login", credentials);
  if (login.status !== 200) throw new Error(`could not log in: ${login.status} ${await login.text()}`);
  const { token } = (await login.json()) as { token: string };
  try {
    return await use(token);
  } finally {
    await fetch(`${url}/v1/me`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined);
  }
}

/** Resolves once every node's GET /v1/cluster lists exactly the given member ids. */
export async function waitMembership(
  nodes: readonly LauncherNode[],
  token: string,
  deadlineAtMs: number,
): Promise<void> {
  const expected = nodes.map((node) => node.id).sort();
  const views = new Map<string, string[]>();
  while (Date.now() < deadlineAtMs) {
    await Promise.all(
      nodes.map(async (node) => {
        views.set(node.id, await memberIds(node, token).catch(() => []));
      }),
    );
    const converged = nodes.every((node) => JSON.stringify(views.get(node.id)) === JSON.stringify(expected));
    if (converged) return;
    const dead = nodes.find(hasExited);
    if (dead !== undefined) throw new Error(`${dead.id} exited; ${dead.logFile}:\n${logTail(dead.logFile)}`);
    await sleep(pollIntervalMs);
  }
  const seen = nodes.map((node) => `${node.id} sees [${(views.get(node.id) ?? []).join(", ")}]`);
  throw new Error(`members did not converge to [${expected.join(", ")}] in time: ${seen.join("; ")}`);
}

async function memberIds(node: LauncherNode, token: string): Promise<string[]> {
  const response = await fetch(`${node.url}/v1/cluster`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(2000),
  });
  if (response.status !== 200) return [];
  const view = (await response.json()) as { members?: Array<{ id?: unknown }> };
  return (view.members ?? []).map((member) => String(member.id)).sort();
}

export function hasExited(node: LauncherNode): boolean {
  return node.child.exitCode !== null || node.child.signalCode !== null;
}
