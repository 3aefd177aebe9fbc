import type { PoolConnection } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { commitOnConnection } from "../../src/store/mysql/mysql-commit.ts";
import { isPrimaryLost, isUnavailable } from "../../src/store/mysql/mysql-errors.ts";
import { sweepEverySeqs } from "../../src/store/mysql/orphan-sweep.ts";
import { queueMessage } from "../helpers/queue-message.ts";

/** A connection that answers the lock round trip with the given epochs and records every SQL text. */
function recordingConnection(
  epochs: { queues?: Record<string, number>; topics?: Record<string, number> },
  /** Rows the sweep's reads answer, by queue and then by the table they read. */
  sweepRows: Record<string, Record<string, object[]>> = {},
) {
  const sent: string[] = [];
  const executed: string[] = [];
  const connection = {
    async execute(sql: string) {
      sent.push(sql);
      executed.push(sql);
      return [{ affectedRows: 1 }, []];
    },
    async query(sql: string) {
      sent.push(sql);
      if (!sql.startsWith("START TRANSACTION")) return [[], []];
      const results: unknown[] = [{}];
      for (const statement of sql.split(";\n").slice(1)) {
        const queue = Object.keys(sweepRows).find((name) => statement.includes(`WHERE queue = '${name}'`));
        const read = ["queue_acks", "queue_message_state", "queue_segments"].find((name) =>
          statement.includes(`FROM ${name} `),
        );
        if (queue !== undefined && read !== undefined) {
          results.push(sweepRows[queue]?.[read] ?? []);
          continue;
        }
        const table = statement.includes("FROM queues") ? epochs.queues : epochs.topics;
        results.push(Object.entries(table ?? {}).map(([name, epoch]) => ({ name, epoch })));
      }
      return [results, []];
    },
  };
  return { connection: connection as unknown as PoolConnection, sent, executed };
}

describe("MySQL commit: the fence is in the write set (Galera certifies written rows only)", () => {
  it("writes the row of every queue and topic whose ops passed the epoch check, also for a batch with no head to move", async () => {
    const { connection, sent } = recordingConnection({ queues: { qa: 3, qb: 1 }, topics: { ta: 2 } });
    const outcomes = await commitOnConnection(connection, [
      { type: "queue.remove", queue: "qa", epoch: 3, seqs: [1] },
      { type: "queue.update", queue: "qb", epoch: 1, changes: [{ seq: 2, deliveries: 1, availableAt: 5 }] },
      { type: "topic.trim", topic: "ta", epoch: 2, beforeOffset: 4 },
    ]);
    expect(outcomes).toEqual(["ok", "ok", "ok"]);
    const writes = sent.slice(1).join(";\n");
    expect(writes).toContain("UPDATE queues SET commits = commits + 1 WHERE name IN ('qa', 'qb')");
    expect(writes).toContain("UPDATE topics SET commits = commits + 1 WHERE name IN ('ta')");
  });

  it("leaves the rows of fenced and missing resources alone", async () => {
    const { connection, sent } = recordingConnection({ queues: { stale: 5 } });
    const outcomes = await commitOnConnection(connection, [
      { type: "queue.remove", queue: "stale", epoch: 4, seqs: [1] },
      { type: "queue.remove", queue: "gone", epoch: 1, seqs: [1] },
    ]);
    expect(outcomes).toEqual(["fenced", "missing"]);
    expect(sent.slice(1).join(";\n")).not.toContain("commits");
  });
});

describe("MySQL commit: the sweep of rows no live segment overlaps (orphan-sweep.ts)", () => {
  const at = 20 * sweepEverySeqs;
  const removal = (seqs: number[]) => [{ type: "queue.remove" as const, queue: "q", epoch: 1, seqs }];
  /** An orphan ack row and state row `shift` below `at`, and one of each a live segment keeps. */
  const rowsOf = (shift: number) => ({
    queue_acks: [
      { first_seq: at - shift, last_seq: at - shift + 10 },
      { first_seq: at - 10, last_seq: at },
    ],
    queue_message_state: [{ seq: at - shift + 5 }, { seq: at - 3 }],
    queue_segments: [{ first_seq: at - 20, last_seq: at + 10 }],
  });
  const rows = { q: rowsOf(5000) };

  it("reads in the lock round trip and deletes, before COMMIT, the rows the segments read do not cover", async () => {
    const { connection, sent } = recordingConnection({ queues: { q: 1 } }, rows);
    expect(await commitOnConnection(connection, removal([at, at - 1]))).toEqual(["ok"]);
    const [locks, ...rest] = sent;
    expect(locks?.split(";\n").map((sql) => sql.split(" WHERE")[0])).toEqual([
      "START TRANSACTION",
      "SELECT name, epoch FROM queues",
      "SELECT first_seq, last_seq FROM queue_acks",
      "SELECT seq FROM queue_message_state",
      "SELECT first_seq, last_seq FROM queue_segments",
    ]);
    const last = rest.join(";\n").split(";\n");
    expect(last.slice(-3)).toEqual([
      `DELETE FROM queue_acks WHERE queue = 'q' AND first_seq IN (${at - 5000})`,
      `DELETE FROM queue_message_state WHERE queue = 'q' AND seq IN (${at - 4995})`,
      "COMMIT",
    ]);
  });

  it("each swept queue's deletes come from its own reads, whatever the locks before them", async () => {
    const { connection, sent } = recordingConnection(
      { queues: { qa: 1, qb: 1 }, topics: { t: 1 } },
      { qa: rowsOf(5000), qb: rowsOf(7000) },
    );
    const ops = [
      { type: "topic.trim" as const, topic: "t", epoch: 1, beforeOffset: 3 },
      { type: "queue.remove" as const, queue: "qb", epoch: 1, seqs: [at] },
      { type: "queue.remove" as const, queue: "qa", epoch: 1, seqs: [at] },
    ];
    expect(await commitOnConnection(connection, ops)).toEqual(["ok", "ok", "ok"]);
    const deletes = sent
      .join(";\n")
      .split(";\n")
      .filter((sql) => sql.includes(" IN (") && sql.startsWith("DELETE"));
    expect(deletes.sort()).toEqual(
      [
        `DELETE FROM queue_acks WHERE queue = 'qa' AND first_seq IN (${at - 5000})`,
        `DELETE FROM queue_message_state WHERE queue = 'qa' AND seq IN (${at - 4995})`,
        `DELETE FROM queue_acks WHERE queue = 'qb' AND first_seq IN (${at - 7000})`,
        `DELETE FROM queue_message_state WHERE queue = 'qb' AND seq IN (${at - 6995})`,
      ].sort(),
    );
  });

  it("not for a fenced queue, and not without a removal at a multiple", async () => {
    const fenced = recordingConnection({ queues: { q: 2 } }, rows);
    expect(await commitOnConnection(fenced.connection, removal([at]))).toEqual(["fenced"]);
    expect(fenced.sent.join(";\n")).not.toMatch(
      /DELETE FROM queue_(acks|message_state) WHERE queue = 'q' AND \w+ IN/,
    );
    const short = recordingConnection({ queues: { q: 1 } }, rows);
    await commitOnConnection(short.connection, removal([at - 1, at + 1]));
    expect(short.sent.join(";\n")).not.toContain("SELECT first_seq, last_seq FROM queue_acks");
    expect(short.sent.join(";\n")).not.toContain(
      "FROM queue_message_state WHERE queue = 'q' AND seq BETWEEN",
    );
  });
});

describe("MySQL commit: how message rows go in", () => {
  const messages = Array.from({ length: 9 }, (_, i) => queueMessage(i + 1));
  const append = [{ type: "queue.append" as const, queue: "q", epoch: 1, messages, nextSeq: 10 }];

  it("prepared by default: the queue's 9 messages go through one execute as one segment, and the text round trip carries no INSERT of them", async () => {
    const { connection, sent, executed } = recordingConnection({ queues: { q: 1 } });
    expect(await commitOnConnection(connection, append, { mode: "shared", slot: 0 })).toEqual(["ok"]);
    expect(executed).toHaveLength(1);
    expect(executed[0]).toMatch(/^INSERT INTO queue_segments .* VALUES \(\?(, \?){4}\)$/);
    expect(sent.filter((sql) => !executed.includes(sql)).join(";\n")).not.toContain(
      "INSERT INTO queue_segments",
    );
  });

  it("a commit of fewer than 8 rows sends them as text: an execute would be a round trip of its own", async () => {
    const { connection, sent, executed } = recordingConnection({ queues: { q: 1 } });
    const few = [
      { type: "queue.append" as const, queue: "q", epoch: 1, messages: messages.slice(0, 7), nextSeq: 8 },
    ];
    expect(await commitOnConnection(connection, few, { mode: "shared", slot: 0 })).toEqual(["ok"]);
    expect(executed).toEqual([]);
    expect(sent.join(";\n")).toContain("INSERT INTO queue_segments");
  });

  it("a few large messages go prepared all the same: as text a segment's body would be hex, twice its size", async () => {
    const { connection, executed } = recordingConnection({ queues: { q: 1 } });
    const large = messages.slice(0, 2).map((m) => ({ ...m, payload: JSON.stringify("x".repeat(300_000)) }));
    const few = [{ type: "queue.append" as const, queue: "q", epoch: 1, messages: large, nextSeq: 3 }];
    expect(await commitOnConnection(connection, few, { mode: "shared", slot: 0 })).toEqual(["ok"]);
    expect(executed).toHaveLength(1);
    expect(executed[0]).toMatch(/^INSERT INTO queue_segments /);
  });

  it("as escaped text when asked: nothing is executed, the rows ride the text round trip", async () => {
    const { connection, sent, executed } = recordingConnection({ queues: { q: 1 } });
    expect(await commitOnConnection(connection, append, { mode: "shared", slot: 0 }, "text")).toEqual(["ok"]);
    expect(executed).toEqual([]);
    expect(sent.join(";\n")).toContain("INSERT INTO queue_segments");
  });
});

describe("MySQL errors: Galera's answers", () => {
  it("takes 'WSREP has not yet prepared node for application use' (1047) as a lost primary", () => {
    const notReady = { errno: 1047, code: "ER_UNKNOWN_COM_ERROR" };
    expect(isPrimaryLost(notReady)).toBe(true);
    expect(isUnavailable(notReady)).toBe(true);
  });

  it("takes a write refused for want of a primary component (1180) as unavailable", () => {
    expect(isUnavailable({ errno: 1180, code: "ER_ERROR_DURING_COMMIT" })).toBe(true);
  });

  it("takes a failed certification (deadlock, 1213) as unavailable, not as a lost primary", () => {
    const certification = { errno: 1213, code: "ER_LOCK_DEADLOCK" };
    expect(isUnavailable(certification)).toBe(true);
    expect(isPrimaryLost(certification)).toBe(false);
  });
});
