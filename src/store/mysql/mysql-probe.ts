import mysql, { type Connection, type RowDataPacket } from "mysql2/promise";
import { hostLabel, type MysqlTarget } from "./mysql-url.ts";

/** What a probe found a server to be. */
export type HostState =
  | { kind: "writable" }
  | { kind: "read-only" }
  /** A Galera node outside the primary component, or not synced (joining, donating): it refuses or stalls writes. */
  | { kind: "not-synced"; state: string }
  | { kind: "unreachable"; error: unknown };

/**
 * Connects to one server and asks whether it takes writes. `read_only`
 * refuses writes only to accounts without SUPER / READ_ONLY ADMIN, so it is
 * read rather than inferred from a failing write. Bounded by `timeoutMs`
 * (a frozen server must not stall a failover).
 */
export async function probeHost(target: MysqlTarget, timeoutMs: number): Promise<HostState> {
  let connection: Connection | undefined;
  let abandoned = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })),
      timeoutMs,
    );
  });
  const ask = async (): Promise<HostState> => {
    const opened = await mysql.createConnection({ ...target, connectTimeout: timeoutMs });
    // A connection that arrives after the deadline is nobody's: close it at once.
    if (abandoned) {
      opened.destroy();
      throw new Error("probe abandoned");
    }
    connection = opened;
    const [rows] = await opened.query<RowDataPacket[]>(
      "SELECT @@global.read_only AS read_only, @@global.innodb_read_only AS innodb_read_only",
    );
    const row = rows[0];
    const readOnly = Number(row?.read_only ?? 1) !== 0 || Number(row?.innodb_read_only ?? 1) !== 0;
    if (readOnly) return { kind: "read-only" };
    const galera = await galeraState(opened);
    return galera === undefined ? { kind: "writable" } : { kind: "not-synced", state: galera };
  };
  try {
    const state = await Promise.race([ask(), timeout]);
    const opened = connection as Connection | undefined;
    await opened?.end().catch(() => opened.destroy());
    return state;
  } catch (error) {
    // Possibly mid-query on a frozen server: QUIT would queue behind it, so cut the socket.
    (connection as Connection | undefined)?.destroy();
    return { kind: "unreachable", error };
  } finally {
    abandoned = true;
    clearTimeout(timer);
  }
}

/**
 * Undefined when the server takes writes as far as Galera is concerned: it
 * is no Galera node (no `wsrep_on`, as on MySQL, or OFF), or it is Synced in
 * the primary component. Otherwise what it is (e.g. `Donor/Desynced non-Primary`).
 */
async function galeraState(connection: Connection): Promise<string | undefined> {
  const [on] = await connection.query<RowDataPacket[]>("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'");
  if (String(on[0]?.Value ?? "OFF") !== "ON") return undefined;
  const [rows] = await connection.query<RowDataPacket[]>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status', 'wsrep_local_state_comment')",
  );
  const value = (name: string) => String(rows.find((r) => r.Variable_name === name)?.Value ?? "");
  const synced =
    value("wsrep_ready") === "ON" &&
    value("wsrep_cluster_status") === "Primary" &&
    value("wsrep_local_state_comment") === "Synced";
  return synced ? undefined : `${value("wsrep_local_state_comment")} ${value("wsrep_cluster_status")}`;
}

/** `127.0.0.1:3306 read-only`, `127.0.0.1:3307 unreachable (ECONNREFUSED)`: no passwords. */
export function describeHost(target: MysqlTarget, state: HostState): string {
  if (state.kind === "not-synced") return `${hostLabel(target)} not synced (Galera: ${state.state})`;
  if (state.kind !== "unreachable") return `${hostLabel(target)} ${state.kind}`;
  return `${hostLabel(target)} unreachable (${errorLabel(state.error)})`;
}

export function errorLabel(error: unknown): string {
  if (typeof error !== "object" || error === null) return String(error);
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  if (typeof code === "string" && typeof errno === "number") return `${code} ${errno}`;
  if (typeof code === "string") return code;
  return error instanceof Error ? error.message : "unknown error";
}
