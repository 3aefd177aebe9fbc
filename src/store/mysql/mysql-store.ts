import type { PoolConnection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import type {
  Binding,
  Grant,
  IdempotencyRecord,
  QueueDefinition,
  QueueMessage,
  ResourceKind,
  ResourceRef,
  StoredUser,
  TopicDefinition,
  TopicMessage,
  UserRecord,
} from "../../broker/types.ts";
import type { ApiKeyRecord } from "../api-key-record.ts";
import { type ApiKeyRow, apiKeyColumns, apiKeyValues, toApiKey } from "../api-key-rows.ts";
import type { CommitThread } from "../commit-thread.ts";
import {
  type ApiKeyPosition,
  apiKeyPageSql,
  type KeyPage,
  namePageSql,
  type PageSql,
  whereSql,
} from "../key-page.ts";
import {
  type BindingRow,
  bindingColumns,
  bindingValues,
  encodePermissions,
  type GrantRow,
  type IdempotencyRow,
  placeholders,
  type QueueRow,
  queueColumns,
  queueValues,
  type TopicMessageRow,
  type TopicRow,
  toBinding,
  toGrant,
  toIdempotency,
  topicColumns,
  topicMessageColumns,
  topicValues,
  toQueue,
  toTopic,
  toTopicMessage,
  toUser,
  type UserRow,
  userColumns,
} from "../rows.ts";
import type { QueueHead, Store, TopicHead, WriteOp, WriteOutcome } from "../store.ts";
import { createMysqlPool, MysqlClient, type MysqlSessionOptions } from "./mysql-client.ts";
import { commitOnConnection, type RowInsertMode } from "./mysql-commit.ts";
import { mysqlCommitThread } from "./mysql-commit-thread.ts";
import { createFailoverPoolSource, type MysqlFailoverTimings } from "./mysql-failover.ts";
import { fenceModeOf } from "./mysql-fence-mode.ts";
import { migrateMysql } from "./mysql-migrate.ts";
import { fixedPoolSource } from "./mysql-pool-source.ts";
import { parseMysqlUrl, targetOf } from "./mysql-url.ts";
import { readSegmentsInSnapshot } from "./queue-segments.ts";

export interface MysqlStoreOptions {
  /** `mysql://user:password@host:port/database`, or `…@primary:port,replica:port/database` to follow a failover. */
  url: string;
  /** Most connections this node opens (default 10). */
  poolSize?: number;
  /** With a host list: probe timeout and search backoff (FailoverOptions; defaults 2 s, 100 ms, 1 s). */
  failover?: MysqlFailoverTimings;
  /** Session settings of every pooled connection (MysqlSessionOptions). */
  session?: MysqlSessionOptions;
  /**
   * With a host list: longest a query or transaction attempt waits for an
   * answer before the store moves to the next host (MysqlClientOptions; default
   * 3 s). Unused with one host, where there is nowhere to move to and the group
   * committer's own timeout bounds a commit.
   */
  queryTimeoutMs?: number;
  /** Message rows go in as prepared statements (default true) or as escaped text (mysql-row-inserts.ts). */
  preparedInserts?: boolean;
  /**
   * Commits run on a worker thread with a store of its own (mysql-commit-thread.ts; default
   * false here, true in openStore). With one server only: a host list commits on the node.
   */
  commitThread?: boolean;
}

const tableOf: Readonly<Record<ResourceKind, string>> = { queue: "queues", topic: "topics" };

/** Creates a MySQL/MariaDB store over a connection pool. Call migrate() before use. */
export async function createMysqlStore(options: MysqlStoreOptions): Promise<Store> {
  const url = parseMysqlUrl(options.url);
  const poolSize = options.poolSize ?? 10;
  const [only] = url.hosts;
  const source =
    url.hosts.length === 1 && only !== undefined
      ? fixedPoolSource(createMysqlPool(targetOf(url, only), poolSize, options.session))
      : createFailoverPoolSource(url, {
          poolSize,
          createPool: (target, size) => createMysqlPool(target, size, options.session),
          ...options.failover,
        });
  const queryTimeoutMs = url.hosts.length > 1 ? (options.queryTimeoutMs ?? 3000) : undefined;
  return new MysqlStore(
    new MysqlClient(source, { queryTimeoutMs }),
    url.database,
    options.preparedInserts === false ? "text" : "prepared",
    // One server only: with a host list the thread's search could settle on another server
    // than the node's (Galera would then certify the commits, but the node's reads could run
    // behind them), so the node's own store commits there.
    options.commitThread === true && url.hosts.length === 1 ? options : undefined,
  );
}

class MysqlStore implements Store {
  readonly kind = "mysql";
  readonly #db: MysqlClient;
  readonly #database: string;
  /** queue_heads slots of the commits in flight: side-by-side commits never share one. */
  readonly #slots = new SlotPool();
  readonly #inserts: RowInsertMode;
  /** With a commit thread: the options its own store is made with; the thread starts at the first commit. */
  readonly #threadOptions: MysqlStoreOptions | undefined;
  #thread: CommitThread | undefined;
  #closed = false;

  constructor(
    db: MysqlClient,
    database: string,
    inserts: RowInsertMode,
    threadOptions: MysqlStoreOptions | undefined,
  ) {
    this.#db = db;
    this.#database = database;
    this.#inserts = inserts;
    this.#threadOptions = threadOptions;
  }

  async migrate(): Promise<void> {
    await this.#db.withPool("migrate", (pool) => migrateMysql(pool, this.#database));
  }

  ping(): Promise<void> {
    return this.#db.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#thread?.close();
    await this.#db.close();
  }

  async createUser(user: UserRecord): Promise<void> {
    await this.#db.write(
      "createUser",
      "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
      [user.username, user.passwordHash, user.createdAt],
      "USERNAME_TAKEN",
    );
  }

  async getUser(username: string): Promise<StoredUser | undefined> {
    const rows = await this.#db.select<UserRow>(
      "getUser",
      `SELECT ${userColumns} FROM users WHERE username = ?`,
      [username],
    );
    return rows[0] === undefined ? undefined : toUser(rows[0]);
  }

  async revokeTokens(username: string): Promise<number | undefined> {
    // LAST_INSERT_ID(expr) hands the new version back in the OK packet, as in claim().
    const result = await this.#db.write(
      "revokeTokens",
      "UPDATE users SET token_version = LAST_INSERT_ID(token_version + 1) WHERE username = ? AND deleted_at IS NULL",
      [username],
    );
    return result.affectedRows === 0 ? undefined : Number(result.insertId);
  }

  async deleteUser(username: string, deletedAt: number): Promise<ResourceRef[] | undefined> {
    return this.#db.transaction("deleteUser", async (connection) => {
      await connection.query("START TRANSACTION");
      const [updated] = await connection.query<ResultSetHeader>(
        "UPDATE users SET deleted_at = ?, token_version = token_version + 1 " +
          "WHERE username = ? AND deleted_at IS NULL",
        [deletedAt, username],
      );
      if (updated.affectedRows === 0) {
        await connection.query("ROLLBACK");
        return undefined;
      }
      const [grants] = await connection.query<RowDataPacket[]>(
        "SELECT kind, resource FROM grants WHERE username = ? ORDER BY kind, resource FOR UPDATE",
        [username],
      );
      await connection.query("DELETE FROM grants WHERE username = ?", [username]);
      await connection.query("DELETE FROM api_keys WHERE username = ?", [username]);
      await connection.query("COMMIT");
      return grants.map((row) => ({ kind: row.kind as ResourceKind, resource: row.resource as string }));
    });
  }

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    await this.#db.write(
      "createApiKey",
      `INSERT INTO api_keys (${apiKeyColumns}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      apiKeyValues(key),
    );
  }

  async getApiKeyBySecretHash(secretHash: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.#db.select<ApiKeyRow>(
      "getApiKeyBySecretHash",
      `SELECT ${apiKeyColumns} FROM api_keys WHERE secret_hash = ?`,
      [secretHash],
    );
    return rows[0] === undefined ? undefined : toApiKey(rows[0]);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.#db.select<ApiKeyRow>(
      "getApiKey",
      `SELECT ${apiKeyColumns} FROM api_keys WHERE id = ?`,
      [id],
    );
    return rows[0] === undefined ? undefined : toApiKey(rows[0]);
  }

  async listApiKeys(username: string, page?: KeyPage<ApiKeyPosition>): Promise<ApiKeyRecord[]> {
    const rows = await this.#paged<ApiKeyRow>(
      "listApiKeys",
      `SELECT ${apiKeyColumns} FROM api_keys`,
      ["username = ?"],
      [username],
      "ORDER BY created_at, id",
      apiKeyPageSql(page),
    );
    return rows.map(toApiKey);
  }

  async deleteApiKey(id: string): Promise<boolean> {
    const result = await this.#db.write("deleteApiKey", "DELETE FROM api_keys WHERE id = ?", [id]);
    return result.affectedRows > 0;
  }

  async createQueue(definition: QueueDefinition): Promise<void> {
    await this.#db.write(
      "createQueue",
      `INSERT INTO queues (${queueColumns}, epoch, next_seq) VALUES (${placeholders(queueColumns)}, ` +
        "COALESCE((SELECT epoch + 1 FROM retired_epochs WHERE kind = 'queue' AND name = ?), 0), 1)",
      [...queueValues(definition), definition.name],
      "QUEUE_EXISTS",
    );
  }

  async getQueue(name: string): Promise<QueueDefinition | undefined> {
    const rows = await this.#db.select<QueueRow>(
      "getQueue",
      `SELECT ${queueColumns} FROM queues WHERE name = ?`,
      [name],
    );
    return rows[0] === undefined ? undefined : toQueue(rows[0]);
  }

  async listQueues(page?: KeyPage): Promise<QueueDefinition[]> {
    const sql = `SELECT ${queueColumns} FROM queues`;
    return (
      await this.#paged<QueueRow>("listQueues", sql, [], [], "ORDER BY name", namePageSql("name", page))
    ).map(toQueue);
  }

  async countCreated(kind: ResourceKind, creator: string): Promise<number> {
    const table = kind === "queue" ? "queues" : "topics";
    const rows = await this.#db.select<{ n: number }>(
      "countCreated",
      `SELECT COUNT(*) AS n FROM ${table} WHERE owner = ?`,
      [creator],
    );
    return Number(rows[0]?.n ?? 0);
  }

  deleteQueue(name: string, at = Date.now()): Promise<boolean> {
    return this.#db.transaction("deleteQueue", (connection) => deleteResource(connection, "queue", name, at));
  }

  async countQueueMessages(name: string): Promise<number> {
    const rows = await this.#db.select<{ n: number }>(
      "countQueueMessages",
      "SELECT COALESCE(SUM(messages - acked), 0) AS n FROM queue_segments WHERE queue = ?",
      [name],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async readQueueMessages(name: string, afterSeq: number, limit: number): Promise<QueueMessage[]> {
    if (limit <= 0) return [];
    return this.#db.transaction("readQueueMessages", (connection) =>
      readSegmentsInSnapshot(connection, name, afterSeq, limit),
    );
  }

  async createTopic(definition: TopicDefinition): Promise<void> {
    await this.#db.write(
      "createTopic",
      `INSERT INTO topics (${topicColumns}, epoch, next_offset) VALUES (${placeholders(topicColumns)}, ` +
        "COALESCE((SELECT epoch + 1 FROM retired_epochs WHERE kind = 'topic' AND name = ?), 0), 0)",
      [...topicValues(definition), definition.name],
      "TOPIC_EXISTS",
    );
  }

  async getTopic(name: string): Promise<TopicDefinition | undefined> {
    const rows = await this.#db.select<TopicRow>(
      "getTopic",
      `SELECT ${topicColumns} FROM topics WHERE name = ?`,
      [name],
    );
    return rows[0] === undefined ? undefined : toTopic(rows[0]);
  }

  async listTopics(page?: KeyPage): Promise<TopicDefinition[]> {
    const sql = `SELECT ${topicColumns} FROM topics`;
    return (
      await this.#paged<TopicRow>("listTopics", sql, [], [], "ORDER BY name", namePageSql("name", page))
    ).map(toTopic);
  }

  deleteTopic(name: string, at = Date.now()): Promise<boolean> {
    return this.#db.transaction("deleteTopic", (connection) => deleteResource(connection, "topic", name, at));
  }

  async topicHead(name: string): Promise<TopicHead | undefined> {
    const rows = await this.#db.select<{ next_offset: number; first_offset: number | null }>(
      "topicHead",
      "SELECT next_offset, (SELECT MIN(msg_offset) FROM topic_messages WHERE topic = topics.name) AS first_offset " +
        "FROM topics WHERE name = ?",
      [name],
    );
    const row = rows[0];
    return row === undefined
      ? undefined
      : { nextOffset: row.next_offset, firstOffset: row.first_offset ?? row.next_offset };
  }

  async readTopic(name: string, fromOffset: number, limit: number): Promise<TopicMessage[]> {
    if (limit <= 0) return [];
    const rows = await this.#db.select<TopicMessageRow>(
      "readTopic",
      `SELECT ${topicMessageColumns} FROM topic_messages WHERE topic = ? AND msg_offset >= ? ORDER BY msg_offset LIMIT ?`,
      [name, fromOffset, limit],
    );
    return rows.map(toTopicMessage);
  }

  async putGrant(grant: Grant): Promise<void> {
    if (grant.permissions.length === 0) {
      await this.#db.write(
        "putGrant",
        "DELETE FROM grants WHERE kind = ? AND resource = ? AND username = ?",
        [grant.kind, grant.resource, grant.username],
      );
      return;
    }
    await this.#db.write(
      "putGrant",
      "INSERT INTO grants (kind, resource, username, permissions) VALUES (?, ?, ?, ?) " +
        "ON DUPLICATE KEY UPDATE permissions = VALUES(permissions)",
      [grant.kind, grant.resource, grant.username, encodePermissions(grant.permissions)],
    );
  }

  async listGrants(kind: ResourceKind, resource: string, page?: KeyPage): Promise<Grant[]> {
    const rows = await this.#paged<GrantRow>(
      "listGrants",
      "SELECT kind, resource, username, permissions FROM grants",
      ["kind = ?", "resource = ?"],
      [kind, resource],
      "ORDER BY username",
      namePageSql("username", page),
    );
    return rows.map(toGrant);
  }

  async createBinding(binding: Binding): Promise<void> {
    // An ended binding of the same names gives way; an active one is a duplicate. Two statements,
    // not one transaction: of two racing creates one inserts and the other meets the key.
    await this.#db.write(
      "createBinding",
      "DELETE FROM bindings WHERE topic = ? AND queue = ? AND state = 'ended'",
      [binding.topic, binding.queue],
    );
    await this.#db.write(
      "createBinding",
      `INSERT INTO bindings (${bindingColumns}) VALUES (${placeholders(bindingColumns)})`,
      bindingValues(binding),
      "SUBSCRIPTION_EXISTS",
    );
  }

  async endBinding(topic: string, queue: string, reason: string, at: number): Promise<boolean> {
    const result = await this.#db.write(
      "endBinding",
      "UPDATE bindings SET state = 'ended', ended_reason = ?, ended_at = ? " +
        "WHERE topic = ? AND queue = ? AND state = 'active'",
      [reason, at, topic, queue],
    );
    return result.affectedRows > 0;
  }

  async listBindings(filter: { topic?: string; queue?: string }): Promise<Binding[]> {
    const where: string[] = [];
    const values: string[] = [];
    if (filter.topic !== undefined) {
      where.push("topic = ?");
      values.push(filter.topic);
    }
    if (filter.queue !== undefined) {
      where.push("queue = ?");
      values.push(filter.queue);
    }
    const clause = where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`;
    const rows = await this.#db.select<BindingRow>(
      "listBindings",
      `SELECT ${bindingColumns} FROM bindings ${clause} ORDER BY topic, queue`,
      values,
    );
    return rows.map(toBinding);
  }

  async pageTopicBindings(topic: string, page: KeyPage): Promise<Binding[]> {
    const rows = await this.#paged<BindingRow>(
      "pageTopicBindings",
      `SELECT ${bindingColumns} FROM bindings`,
      ["topic = ?"],
      [topic],
      "ORDER BY queue",
      namePageSql("queue", page),
    );
    return rows.map(toBinding);
  }

  /** `select WHERE conditions AND page's ORDER BY order LIMIT`: one listing read, whole or one page. */
  #paged<R>(
    action: string,
    select: string,
    conditions: string[],
    values: unknown[],
    order: string,
    page: PageSql,
  ): Promise<R[]> {
    return this.#db.select<R>(
      action,
      `${select} ${whereSql([...conditions, ...page.conditions])} ${order}${page.limit}`,
      [...values, ...page.values, ...page.limitValues],
    );
  }

  async deleteBinding(topic: string, queue: string): Promise<boolean> {
    const result = await this.#db.write(
      "deleteBinding",
      "DELETE FROM bindings WHERE topic = ? AND queue = ?",
      [topic, queue],
    );
    return result.affectedRows > 0;
  }

  async claim(kind: ResourceKind, name: string): Promise<{ epoch: number } | undefined> {
    // LAST_INSERT_ID(expr) hands the new epoch back in the OK packet: increment
    // and read in one atomic statement, no transaction or second round trip.
    const result = await this.#db.write(
      "claim",
      `UPDATE ${tableOf[kind]} SET epoch = LAST_INSERT_ID(epoch + 1) WHERE name = ?`,
      [name],
    );
    return result.affectedRows === 0 ? undefined : { epoch: Number(result.insertId) };
  }

  async queueHead(name: string): Promise<QueueHead | undefined> {
    // The highest of the queue row's head and the commit pipeline's slot rows (migration 006).
    const rows = await this.#db.select<{ next_seq: number }>(
      "queueHead",
      "SELECT GREATEST(next_seq, COALESCE((SELECT MAX(h.next_seq) FROM queue_heads h WHERE h.queue = q.name), 0)) " +
        "AS next_seq FROM queues q WHERE q.name = ?",
      [name],
    );
    return rows[0] === undefined ? undefined : { nextSeq: rows[0].next_seq };
  }

  async loadIdempotency(kind: ResourceKind, resource: string, now: number): Promise<IdempotencyRecord[]> {
    const rows = await this.#db.select<IdempotencyRow>(
      "loadIdempotency",
      "SELECT kind, resource, idem_key, result, expires_at FROM idempotency " +
        "WHERE kind = ? AND resource = ? AND expires_at > ? ORDER BY idem_key",
      [kind, resource, now],
    );
    return rows.map(toIdempotency);
  }

  async purgeIdempotency(now: number): Promise<number> {
    return (await this.#db.write("purgeIdempotency", "DELETE FROM idempotency WHERE expires_at <= ?", [now]))
      .affectedRows;
  }

  async commit(ops: WriteOp[]): Promise<WriteOutcome[]> {
    if (ops.length === 0) return [];
    if (this.#threadOptions !== undefined && !this.#closed) {
      this.#thread ??= mysqlCommitThread(this.#threadOptions);
      return this.#thread.commit(ops);
    }
    const slot = this.#slots.take();
    try {
      return await this.#db.transaction("commit", (connection) =>
        commitOnConnection(connection, ops, { mode: fenceModeOf(connection), slot }, this.#inserts),
      );
    } finally {
      this.#slots.give(slot);
    }
  }
}

/** Deletes a queue or topic and everything hanging off it; the caller's transaction makes it all-or-nothing. */
async function deleteResource(
  connection: PoolConnection,
  kind: ResourceKind,
  name: string,
  at: number,
): Promise<boolean> {
  await connection.query("START TRANSACTION");
  const [rows] = await connection.query<RowDataPacket[]>(
    `SELECT epoch FROM ${tableOf[kind]} WHERE name = ? FOR UPDATE`,
    [name],
  );
  const epoch = rows[0]?.epoch;
  if (epoch === undefined) {
    await connection.query("ROLLBACK");
    return false;
  }
  // Bindings end visibly rather than vanish; they hold the ids, so a later resource of this name never revives them.
  const endBindings = (end: "queue" | "topic", reason: string) =>
    connection.query(
      `UPDATE bindings SET state = 'ended', ended_reason = ?, ended_at = ? WHERE ${end} = ? AND state = 'active'`,
      [reason, at, name],
    );
  if (kind === "queue") {
    for (const table of ["queue_segments", "queue_acks", "queue_message_state"]) {
      await connection.query(`DELETE FROM ${table} WHERE queue = ?`, [name]);
    }
    await connection.query("DELETE FROM queue_heads WHERE queue = ?", [name]);
    await endBindings("queue", "QUEUE_NOT_FOUND");
  } else {
    await connection.query("DELETE FROM topic_messages WHERE topic = ?", [name]);
    await endBindings("topic", "TOPIC_NOT_FOUND");
  }
  await connection.query("DELETE FROM grants WHERE kind = ? AND resource = ?", [kind, name]);
  await connection.query("DELETE FROM idempotency WHERE kind = ? AND resource = ?", [kind, name]);
  await connection.query(
    "INSERT INTO retired_epochs (kind, name, epoch) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE epoch = VALUES(epoch)",
    [kind, name, epoch],
  );
  await connection.query(`DELETE FROM ${tableOf[kind]} WHERE name = ?`, [name]);
  await connection.query("COMMIT");
  return true;
}

/**
 * Small integers, each held by one in-flight commit; given back ones are
 * reused, so there are never more than the most commits ever in flight.
 */
class SlotPool {
  readonly #free: number[] = [];
  #next = 0;

  take(): number {
    return this.#free.pop() ?? this.#next++;
  }

  give(slot: number): void {
    this.#free.push(slot);
  }
}
