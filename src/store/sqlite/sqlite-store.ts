import type Database from "better-sqlite3";
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
import { AvisoError } from "../../errors/aviso-error.ts";
import type { Reason } from "../../errors/reasons.ts";
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
  type QueueMessageRow,
  type QueueRow,
  queueColumns,
  queueMessageColumns,
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
  toQueueMessage,
  toTopic,
  toTopicMessage,
  toUser,
  type UserRow,
  userColumns,
} from "../rows.ts";
import type { QueueHead, Store, TopicHead, WriteOp, WriteOutcome } from "../store.ts";
import { createSqliteCommit } from "./sqlite-commit.ts";
import { sqliteCommitThread } from "./sqlite-commit-thread.ts";
import { openSqliteDatabase } from "./sqlite-database.ts";
import { isDuplicateKey, toStoreError } from "./sqlite-errors.ts";
import { migrateSqlite } from "./sqlite-migrate.ts";

export interface SqliteStoreOptions {
  /** Database file; its parent directory is created if absent. */
  path: string;
  /** How long to wait for another process's write lock before STORE_UNAVAILABLE. */
  busyTimeoutMs?: number;
  /** Commit on a worker thread with its own connection (a file only; `:memory:` commits in-thread). */
  commitThread?: boolean;
}

const tableOf: Readonly<Record<ResourceKind, string>> = { queue: "queues", topic: "topics" };

/** Opens (creating if needed) an embedded SQLite store. Call migrate() before use. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  let db: Database.Database;
  try {
    db = openSqliteDatabase(options.path, busyTimeoutMs);
  } catch (error) {
    throw toStoreError(error, `opening ${options.path}`);
  }
  const thread =
    options.commitThread === true && options.path !== ":memory:"
      ? { path: options.path, busyTimeoutMs }
      : undefined;
  return new SqliteStore(db, thread);
}

class SqliteStore implements Store {
  readonly kind = "sqlite";
  #db: Database.Database;
  #closed = false;
  #commit: ReturnType<typeof createSqliteCommit> | undefined;
  /** Where the commit thread connects; started at the first commit (after migrate). */
  readonly #threadTarget: { path: string; busyTimeoutMs: number } | undefined;
  #thread: CommitThread | undefined;
  // better-sqlite3 does not cache prepared statements; preparing costs more than most of our queries.
  #statements = new Map<string, Database.Statement<unknown[], unknown>>();

  constructor(db: Database.Database, threadTarget?: { path: string; busyTimeoutMs: number }) {
    this.#db = db;
    this.#threadTarget = threadTarget;
  }

  #prepare<P extends unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare<unknown[], unknown>(sql);
      this.#statements.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  /** Runs a synchronous step, mapping failures (and use after close) to AvisoError. */
  #run<T>(action: string, step: () => T, duplicate?: Reason): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new AvisoError("STORE_UNAVAILABLE", `SQLite store is closed (${action})`));
    }
    try {
      return Promise.resolve(step());
    } catch (error) {
      if (duplicate !== undefined && isDuplicateKey(error)) {
        return Promise.reject(new AvisoError(duplicate, undefined, { cause: error }));
      }
      return Promise.reject(toStoreError(error, action));
    }
  }

  async migrate(): Promise<void> {
    if (this.#closed) throw new AvisoError("STORE_UNAVAILABLE", "SQLite store is closed (migrate)");
    try {
      await migrateSqlite(this.#db);
    } catch (error) {
      throw toStoreError(error, "migrate");
    }
  }

  ping(): Promise<void> {
    return this.#run("ping", () => {
      this.#prepare("SELECT 1").get();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#thread?.close();
    this.#db.close();
  }

  createUser(user: UserRecord): Promise<void> {
    return this.#run(
      "createUser",
      () => {
        this.#prepare("INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)").run(
          user.username,
          user.passwordHash,
          user.createdAt,
        );
      },
      "USERNAME_TAKEN",
    );
  }

  getUser(username: string): Promise<StoredUser | undefined> {
    return this.#run("getUser", () => {
      const row = this.#prepare<[string], UserRow>(`SELECT ${userColumns} FROM users WHERE username = ?`).get(
        username,
      );
      return row === undefined ? undefined : toUser(row);
    });
  }

  revokeTokens(username: string): Promise<number | undefined> {
    return this.#run("revokeTokens", () =>
      this.#prepare<[string], number>(
        "UPDATE users SET token_version = token_version + 1 WHERE username = ? AND deleted_at IS NULL " +
          "RETURNING token_version",
      )
        .pluck()
        .get(username),
    );
  }

  deleteUser(username: string, deletedAt: number): Promise<ResourceRef[] | undefined> {
    return this.#run("deleteUser", () =>
      this.#db
        .transaction((): ResourceRef[] | undefined => {
          const deleted = this.#prepare(
            "UPDATE users SET deleted_at = ?, token_version = token_version + 1 " +
              "WHERE username = ? AND deleted_at IS NULL",
          ).run(deletedAt, username);
          if (deleted.changes === 0) return undefined;
          const grants = this.#prepare<[string], ResourceRef>(
            "SELECT kind, resource FROM grants WHERE username = ? ORDER BY kind, resource",
          ).all(username);
          this.#prepare("DELETE FROM grants WHERE username = ?").run(username);
          this.#prepare("DELETE FROM api_keys WHERE username = ?").run(username);
          return grants;
        })
        .immediate(),
    );
  }

  createApiKey(key: ApiKeyRecord): Promise<void> {
    return this.#run("createApiKey", () => {
      this.#prepare(`INSERT INTO api_keys (${apiKeyColumns}) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(
        ...apiKeyValues(key),
      );
    });
  }

  getApiKeyBySecretHash(secretHash: string): Promise<ApiKeyRecord | undefined> {
    return this.#run("getApiKeyBySecretHash", () => {
      const row = this.#prepare<[string], ApiKeyRow>(
        `SELECT ${apiKeyColumns} FROM api_keys WHERE secret_hash = ?`,
      ).get(secretHash);
      return row === undefined ? undefined : toApiKey(row);
    });
  }

  getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.#run("getApiKey", () => {
      const row = this.#prepare<[string], ApiKeyRow>(
        `SELECT ${apiKeyColumns} FROM api_keys WHERE id = ?`,
      ).get(id);
      return row === undefined ? undefined : toApiKey(row);
    });
  }

  listApiKeys(username: string, page?: KeyPage<ApiKeyPosition>): Promise<ApiKeyRecord[]> {
    return this.#run("listApiKeys", () =>
      this.#paged<ApiKeyRow>(
        `SELECT ${apiKeyColumns} FROM api_keys`,
        ["username = ?"],
        [username],
        "ORDER BY created_at, id",
        apiKeyPageSql(page),
      ).map(toApiKey),
    );
  }

  deleteApiKey(id: string): Promise<boolean> {
    return this.#run(
      "deleteApiKey",
      () => this.#prepare("DELETE FROM api_keys WHERE id = ?").run(id).changes > 0,
    );
  }

  createQueue(definition: QueueDefinition): Promise<void> {
    return this.#run(
      "createQueue",
      () => {
        this.#prepare(
          `INSERT INTO queues (${queueColumns}, epoch, next_seq) VALUES (${placeholders(queueColumns)}, ` +
            "COALESCE((SELECT epoch + 1 FROM retired_epochs WHERE kind = 'queue' AND name = ?), 0), 1)",
        ).run(...queueValues(definition), definition.name);
      },
      "QUEUE_EXISTS",
    );
  }

  getQueue(name: string): Promise<QueueDefinition | undefined> {
    return this.#run("getQueue", () => {
      const row = this.#prepare<[string], QueueRow>(`SELECT ${queueColumns} FROM queues WHERE name = ?`).get(
        name,
      );
      return row === undefined ? undefined : toQueue(row);
    });
  }

  listQueues(page?: KeyPage): Promise<QueueDefinition[]> {
    return this.#run("listQueues", () =>
      this.#paged<QueueRow>(
        `SELECT ${queueColumns} FROM queues`,
        [],
        [],
        "ORDER BY name",
        namePageSql("name", page),
      ).map(toQueue),
    );
  }

  countCreated(kind: ResourceKind, creator: string): Promise<number> {
    const table = kind === "queue" ? "queues" : "topics";
    return this.#run(
      "countCreated",
      () =>
        this.#prepare<[string], number>(`SELECT COUNT(*) FROM ${table} WHERE owner = ?`)
          .pluck()
          .get(creator) ?? 0,
    );
  }

  deleteQueue(name: string, at = Date.now()): Promise<boolean> {
    return this.#run("deleteQueue", () => this.#deleteResource("queue", name, at));
  }

  countQueueMessages(name: string): Promise<number> {
    return this.#run(
      "countQueueMessages",
      () =>
        this.#prepare<[string], number>("SELECT COUNT(*) FROM queue_messages WHERE queue = ?")
          .pluck()
          .get(name) ?? 0,
    );
  }

  readQueueMessages(name: string, afterSeq: number, limit: number): Promise<QueueMessage[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.#run("readQueueMessages", () =>
      this.#prepare<[string, number, number], QueueMessageRow>(
        `SELECT ${queueMessageColumns} FROM queue_messages WHERE queue = ? AND seq > ? ORDER BY seq LIMIT ?`,
      )
        .all(name, afterSeq, limit)
        .map(toQueueMessage),
    );
  }

  createTopic(definition: TopicDefinition): Promise<void> {
    return this.#run(
      "createTopic",
      () => {
        this.#prepare(
          `INSERT INTO topics (${topicColumns}, epoch, next_offset) VALUES (${placeholders(topicColumns)}, ` +
            "COALESCE((SELECT epoch + 1 FROM retired_epochs WHERE kind = 'topic' AND name = ?), 0), 0)",
        ).run(...topicValues(definition), definition.name);
      },
      "TOPIC_EXISTS",
    );
  }

  getTopic(name: string): Promise<TopicDefinition | undefined> {
    return this.#run("getTopic", () => {
      const row = this.#prepare<[string], TopicRow>(`SELECT ${topicColumns} FROM topics WHERE name = ?`).get(
        name,
      );
      return row === undefined ? undefined : toTopic(row);
    });
  }

  listTopics(page?: KeyPage): Promise<TopicDefinition[]> {
    return this.#run("listTopics", () =>
      this.#paged<TopicRow>(
        `SELECT ${topicColumns} FROM topics`,
        [],
        [],
        "ORDER BY name",
        namePageSql("name", page),
      ).map(toTopic),
    );
  }

  deleteTopic(name: string, at = Date.now()): Promise<boolean> {
    return this.#run("deleteTopic", () => this.#deleteResource("topic", name, at));
  }

  topicHead(name: string): Promise<TopicHead | undefined> {
    return this.#run("topicHead", () => {
      const row = this.#prepare<[string], { next_offset: number; first_offset: number | null }>(
        "SELECT next_offset, (SELECT MIN(msg_offset) FROM topic_messages WHERE topic = topics.name) AS first_offset " +
          "FROM topics WHERE name = ?",
      ).get(name);
      return row === undefined
        ? undefined
        : { nextOffset: row.next_offset, firstOffset: row.first_offset ?? row.next_offset };
    });
  }

  readTopic(name: string, fromOffset: number, limit: number): Promise<TopicMessage[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.#run("readTopic", () =>
      this.#prepare<[string, number, number], TopicMessageRow>(
        `SELECT ${topicMessageColumns} FROM topic_messages WHERE topic = ? AND msg_offset >= ? ORDER BY msg_offset LIMIT ?`,
      )
        .all(name, fromOffset, limit)
        .map(toTopicMessage),
    );
  }

  putGrant(grant: Grant): Promise<void> {
    return this.#run("putGrant", () => {
      if (grant.permissions.length === 0) {
        this.#prepare("DELETE FROM grants WHERE kind = ? AND resource = ? AND username = ?").run(
          grant.kind,
          grant.resource,
          grant.username,
        );
        return;
      }
      this.#prepare(
        "INSERT INTO grants (kind, resource, username, permissions) VALUES (?, ?, ?, ?) " +
          "ON CONFLICT (kind, resource, username) DO UPDATE SET permissions = excluded.permissions",
      ).run(grant.kind, grant.resource, grant.username, encodePermissions(grant.permissions));
    });
  }

  listGrants(kind: ResourceKind, resource: string, page?: KeyPage): Promise<Grant[]> {
    return this.#run("listGrants", () =>
      this.#paged<GrantRow>(
        "SELECT kind, resource, username, permissions FROM grants",
        ["kind = ?", "resource = ?"],
        [kind, resource],
        "ORDER BY username",
        namePageSql("username", page),
      ).map(toGrant),
    );
  }

  createBinding(binding: Binding): Promise<void> {
    return this.#run(
      "createBinding",
      () => {
        this.#db
          .transaction(() => {
            // An ended binding of the same names gives way; an active one is a duplicate.
            this.#prepare("DELETE FROM bindings WHERE topic = ? AND queue = ? AND state = 'ended'").run(
              binding.topic,
              binding.queue,
            );
            this.#prepare(
              `INSERT INTO bindings (${bindingColumns}) VALUES (${placeholders(bindingColumns)})`,
            ).run(...bindingValues(binding));
          })
          .immediate();
      },
      "SUBSCRIPTION_EXISTS",
    );
  }

  listBindings(filter: { topic?: string; queue?: string }): Promise<Binding[]> {
    return this.#run("listBindings", () => {
      const where: string[] = [];
      const params: string[] = [];
      if (filter.topic !== undefined) {
        where.push("topic = ?");
        params.push(filter.topic);
      }
      if (filter.queue !== undefined) {
        where.push("queue = ?");
        params.push(filter.queue);
      }
      const clause = where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`;
      return this.#prepare<string[], BindingRow>(
        `SELECT ${bindingColumns} FROM bindings ${clause} ORDER BY topic, queue`,
      )
        .all(...params)
        .map(toBinding);
    });
  }

  pageTopicBindings(topic: string, page: KeyPage): Promise<Binding[]> {
    return this.#run("pageTopicBindings", () =>
      this.#paged<BindingRow>(
        `SELECT ${bindingColumns} FROM bindings`,
        ["topic = ?"],
        [topic],
        "ORDER BY queue",
        namePageSql("queue", page),
      ).map(toBinding),
    );
  }

  /** `select WHERE conditions AND page's ORDER BY order LIMIT`: one listing read, whole or one page. */
  #paged<R>(select: string, conditions: string[], values: unknown[], order: string, page: PageSql): R[] {
    return this.#prepare<unknown[], R>(
      `${select} ${whereSql([...conditions, ...page.conditions])} ${order}${page.limit}`,
    ).all(...values, ...page.values, ...page.limitValues);
  }

  deleteBinding(topic: string, queue: string): Promise<boolean> {
    return this.#run(
      "deleteBinding",
      () => this.#prepare("DELETE FROM bindings WHERE topic = ? AND queue = ?").run(topic, queue).changes > 0,
    );
  }

  endBinding(topic: string, queue: string, reason: string, at: number): Promise<boolean> {
    return this.#run(
      "endBinding",
      () =>
        this.#prepare(
          "UPDATE bindings SET state = 'ended', ended_reason = ?, ended_at = ? " +
            "WHERE topic = ? AND queue = ? AND state = 'active'",
        ).run(reason, at, topic, queue).changes > 0,
    );
  }

  claim(kind: ResourceKind, name: string): Promise<{ epoch: number } | undefined> {
    return this.#run("claim", () => {
      const epoch = this.#prepare<[string], number>(
        `UPDATE ${tableOf[kind]} SET epoch = epoch + 1 WHERE name = ? RETURNING epoch`,
      )
        .pluck()
        .get(name);
      return epoch === undefined ? undefined : { epoch };
    });
  }

  queueHead(name: string): Promise<QueueHead | undefined> {
    return this.#run("queueHead", () => {
      const nextSeq = this.#prepare<[string], number>("SELECT next_seq FROM queues WHERE name = ?")
        .pluck()
        .get(name);
      return nextSeq === undefined ? undefined : { nextSeq };
    });
  }

  loadIdempotency(kind: ResourceKind, resource: string, now: number): Promise<IdempotencyRecord[]> {
    return this.#run("loadIdempotency", () =>
      this.#prepare<[string, string, number], IdempotencyRow>(
        "SELECT kind, resource, idem_key, result, expires_at FROM idempotency " +
          "WHERE kind = ? AND resource = ? AND expires_at > ? ORDER BY idem_key",
      )
        .all(kind, resource, now)
        .map(toIdempotency),
    );
  }

  purgeIdempotency(now: number): Promise<number> {
    return this.#run(
      "purgeIdempotency",
      () => this.#prepare("DELETE FROM idempotency WHERE expires_at <= ?").run(now).changes,
    );
  }

  commit(ops: WriteOp[]): Promise<WriteOutcome[]> {
    if (ops.length === 0) return Promise.resolve([]);
    if (this.#threadTarget !== undefined && !this.#closed) {
      const { path, busyTimeoutMs } = this.#threadTarget;
      this.#thread ??= sqliteCommitThread(path, busyTimeoutMs);
      return this.#thread.commit(ops).catch((error: unknown) => {
        throw toStoreError(error, "commit");
      });
    }
    return this.#run("commit", () => {
      this.#commit ??= createSqliteCommit(this.#db);
      return this.#commit(ops);
    });
  }

  /** Deletes a queue or topic and everything hanging off it, in one transaction. */
  #deleteResource(kind: ResourceKind, name: string, at: number): boolean {
    return this.#db
      .transaction((): boolean => {
        const epoch = this.#prepare<[string], number>(`SELECT epoch FROM ${tableOf[kind]} WHERE name = ?`)
          .pluck()
          .get(name);
        if (epoch === undefined) return false;
        const endBindings = (end: "queue" | "topic", reason: string) =>
          this.#prepare(
            "UPDATE bindings SET state = 'ended', ended_reason = ?, ended_at = ? " +
              `WHERE ${end} = ? AND state = 'active'`,
          ).run(reason, at, name);
        if (kind === "queue") {
          this.#prepare("DELETE FROM queue_messages WHERE queue = ?").run(name);
          endBindings("queue", "QUEUE_NOT_FOUND");
        } else {
          this.#prepare("DELETE FROM topic_messages WHERE topic = ?").run(name);
          endBindings("topic", "TOPIC_NOT_FOUND");
        }
        this.#prepare("DELETE FROM grants WHERE kind = ? AND resource = ?").run(kind, name);
        this.#prepare("DELETE FROM idempotency WHERE kind = ? AND resource = ?").run(kind, name);
        this.#prepare(
          "INSERT INTO retired_epochs (kind, name, epoch) VALUES (?, ?, ?) " +
            "ON CONFLICT (kind, name) DO UPDATE SET epoch = excluded.epoch",
        ).run(kind, name, epoch);
        this.#prepare(`DELETE FROM ${tableOf[kind]} WHERE name = ?`).run(name);
        return true;
      })
      .immediate();
  }
}
