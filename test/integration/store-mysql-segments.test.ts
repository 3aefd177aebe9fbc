import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueueMessage } from "../../src/broker/types.ts";
import { loadMigrations, splitStatements } from "../../src/store/migration-files.ts";
import { createMysqlStore } from "../../src/store/mysql/mysql-store.ts";
import { sweepEverySeqs, sweepWindowSeqs } from "../../src/store/mysql/orphan-sweep.ts";
import { maxSegmentSeqs, readSegmentsInSnapshot } from "../../src/store/mysql/queue-segments.ts";
import type { Store, WriteOp } from "../../src/store/store.ts";
import { createTestDatabase, dropTestDatabase } from "../helpers/mariadb.ts";
import { ownedQueue, queueDefinition, queueMessage, queueMessages, uniqueName } from "../store/fixtures.ts";
import { databaseAtSchema } from "../store/mysql-schema.ts";

/*
 * The queue segment layout on a real MariaDB (src/store/mysql/queue-segments.ts):
 * what the tables hold as messages are appended, removed out of order and
 * redelivered, on both commit paths (the event loop's and the commit thread's).
 */

let url = "";
let connection: mysql.Connection;
beforeAll(async () => {
  url = await createTestDatabase("store_segments");
  connection = await mysql.createConnection(url);
});
afterAll(async () => {
  await connection?.end();
  await dropTestDatabase(url);
});

/** [first_seq, last_seq, messages, acked] of a queue's segments and [first, last] of its ack rows. */
async function tables(queue: string) {
  const [segments] = await connection.query<mysql.RowDataPacket[]>(
    "SELECT first_seq, last_seq, messages, acked FROM queue_segments WHERE queue = ? ORDER BY first_seq",
    [queue],
  );
  const [acks] = await connection.query<mysql.RowDataPacket[]>(
    "SELECT first_seq, last_seq FROM queue_acks WHERE queue = ? ORDER BY first_seq",
    [queue],
  );
  const [states] = await connection.query<mysql.RowDataPacket[]>(
    "SELECT seq FROM queue_message_state WHERE queue = ? ORDER BY seq",
    [queue],
  );
  return {
    segments: segments.map((r) => [r.first_seq, r.last_seq, r.messages, r.acked].map(Number)),
    acks: acks.map((r) => [Number(r.first_seq), Number(r.last_seq)]),
    states: states.map((r) => Number(r.seq)),
  };
}

const seqsOf = (messages: QueueMessage[]) => messages.map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

for (const commitThread of [false, true]) {
  describe(`MySQL queue segments${commitThread ? ", commit thread" : ""}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await createMysqlStore({ url, poolSize: 2, commitThread });
      await store.migrate();
    });
    afterAll(async () => {
      await store?.close();
    });

    const commit = async (ops: WriteOp[]) => expect(await store.commit(ops)).toEqual(ops.map(() => "ok"));
    /** Appends seqs first … last to the queue in one commit. */
    const append = (queue: string, epoch: number, first: number, last: number) =>
      commit([
        {
          type: "queue.append",
          queue,
          epoch,
          messages: queueMessages(first, last),
          nextSeq: last + 1,
        },
      ]);

    it("a commit's messages are one segment; removals out of order across segments; a segment goes once all of it is removed, and the rows below the lowest live segment with it", async () => {
      const { name, epoch } = await ownedQueue(store);
      await append(name, epoch, 1, 10);
      await append(name, epoch, 11, 20);
      expect((await tables(name)).segments).toEqual([
        [1, 10, 10, 0],
        [11, 20, 10, 0],
      ]);

      // One run across both segments, a lone seq, and a redelivery of a message in the second.
      await commit([
        { type: "queue.remove", queue: name, epoch, seqs: [15, 3, 14, 4, 13, 5, 12, 6, 11, 7, 8, 9, 10] },
        { type: "queue.remove", queue: name, epoch, seqs: [18] },
        { type: "queue.update", queue: name, epoch, changes: [{ seq: 16, deliveries: 2, availableAt: 99 }] },
      ]);
      expect(await tables(name)).toEqual({
        segments: [
          [1, 10, 10, 8],
          [11, 20, 10, 6],
        ],
        acks: [
          [3, 15],
          [18, 18],
        ],
        states: [16],
      });
      expect(await store.countQueueMessages(name)).toBe(6);
      const left = await store.readQueueMessages(name, 0, 100);
      expect(seqsOf(left)).toEqual([1, 2, 16, 17, 19, 20]);
      expect(left.find((m) => m.seq === 16)).toMatchObject({ deliveries: 2, availableAt: 99 });
      expect(seqsOf(await store.readQueueMessages(name, 2, 2))).toEqual([16, 17]);

      // The first segment empties: it goes; the run reaching into the second stays.
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: [2, 1] }]);
      expect(await tables(name)).toEqual({
        segments: [[11, 20, 10, 6]],
        acks: [
          [3, 15],
          [18, 18],
        ],
        states: [16],
      });

      // The second empties: nothing of the queue is left.
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: [20, 16, 19, 17] }]);
      expect(await tables(name)).toEqual({ segments: [], acks: [], states: [] });
      expect(await store.countQueueMessages(name)).toBe(0);
      expect(await store.readQueueMessages(name, 0, 100)).toEqual([]);
    });

    it("one message held at the head keeps only the rows of live segments: the removal of a seq at a multiple of sweepEverySeqs sweeps the rest", async () => {
      const { name, epoch } = await ownedQueue(store);
      const last = sweepEverySeqs + 4;
      for (const [first, end] of [
        [1, 10],
        [11, 20],
        [21, 30],
        [31, 40],
        [41, last],
      ] as const) {
        await append(name, epoch, first, end);
      }
      const update = (seq: number, deliveries: number) =>
        ({
          type: "queue.update",
          queue: name,
          epoch,
          changes: [{ seq, deliveries, availableAt: 7 }],
        }) satisfies WriteOp;
      await commit([update(12, 2), update(25, 3), update(35, 4)]);
      // Seq 1 is held. The second segment empties; a run across the third and fourth empties
      // the third; a run far into the fifth (which starts ~1,000 seqs below it) empties nothing.
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(2, 10) }]);
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(11, 20) }]);
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(21, 33) }]);
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(1000, 1010) }]);
      expect(await tables(name)).toMatchObject({
        acks: [
          [2, 10],
          [11, 20],
          [21, 33],
          [1000, 1010],
        ],
        states: [12, 25, 35],
      });

      await commit([
        { type: "queue.remove", queue: name, epoch, seqs: range(sweepEverySeqs - 2, sweepEverySeqs) },
      ]);
      const after = await tables(name);
      expect(after.segments.slice(0, 3)).toEqual([
        [1, 10, 10, 9],
        [31, 40, 10, 3],
        [41, 41 + maxSegmentSeqs - 1, maxSegmentSeqs, 11],
      ]);
      expect(after.acks).toEqual([
        [2, 10],
        [21, 33],
        [1000, 1010],
        [sweepEverySeqs - 2, sweepEverySeqs],
      ]);
      expect(after.states).toEqual([35]);
      const left = await store.readQueueMessages(name, 0, 100);
      expect(seqsOf(left).slice(0, 10)).toEqual([1, 34, 35, 36, 37, 38, 39, 40, 41, 42]);
      expect(left.find((m) => m.seq === 35)).toMatchObject({ deliveries: 4, availableAt: 7 });
      expect(await store.countQueueMessages(name)).toBe(last - 9 - 10 - 13 - 11 - 3);

      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(1, last) }]);
      expect(await tables(name)).toEqual({ segments: [], acks: [], states: [] });
    });

    it("a sweep reads a window below its seq: an orphan under it stays, a live segment reaching into it keeps its row", async () => {
      const { name, epoch } = await ownedQueue(store);
      const at = (sweepWindowSeqs / sweepEverySeqs + 1) * sweepEverySeqs;
      const from = at - sweepWindowSeqs;
      const reach = maxSegmentSeqs - 1;
      // Segments cut where the test needs them: one ends just below the ack rows the sweep
      // reads, the next starts 2 × reach below `from` and ends at the lowest ack row it reads.
      const cuts = [1, 1025, from - 2 * reach - 1, from - 2 * reach, from - reach + 1];
      for (
        let first = from - reach + 1;
        first <= at + 10;
        first = Math.min(first + maxSegmentSeqs, at + 11)
      ) {
        if (first > (cuts[cuts.length - 1] as number)) cuts.push(first);
      }
      cuts.push(at + 11);
      for (let i = 0; i + 1 < cuts.length; i++) {
        const first = cuts[i] as number;
        const next = cuts[i + 1] as number;
        await append(name, epoch, first, next - 1);
      }
      const below = [1025, from - 2 * reach - 2] as const; // emptied, under the window
      const reaching = from - reach; // the last seq of the segment starting at from - 2 × reach
      // Emptied, in the window; its seqs hold no multiple of sweepEverySeqs (removing one sweeps).
      const inside: [number, number] = [from + 2, from + 1 + maxSegmentSeqs];
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(...below) }]);
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: [reaching] }]);
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(...inside) }]);
      const before = await tables(name);
      expect(before.segments.some(([first]) => first === from - 2 * reach)).toBe(true);
      expect(before.acks).toEqual([below, [reaching, reaching], inside]);

      await commit([{ type: "queue.remove", queue: name, epoch, seqs: [at] }]);
      expect((await tables(name)).acks).toEqual([below, [reaching, reaching], [at, at]]);
      expect(seqsOf(await store.readQueueMessages(name, reaching - 2, 3))).toEqual([
        reaching - 1,
        reaching + 1,
        reaching + 2,
      ]);
    });

    it("reads page through many segments with removals, whatever the limit", async () => {
      const { name, epoch } = await ownedQueue(store);
      for (let first = 1; first <= 100; first += 10) {
        await append(name, epoch, first, first + 9);
      }
      const removed = range(1, 100).filter((seq) => seq % 3 === 0 || (seq > 40 && seq <= 60));
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: removed }]);
      const expected = range(1, 100).filter((seq) => !removed.includes(seq));
      expect(await store.countQueueMessages(name)).toBe(expected.length);
      for (const limit of [1, 7, 1000]) {
        const read: number[] = [];
        for (let after = 0, page = 0; page < 200; page++) {
          const messages = await store.readQueueMessages(name, after, limit);
          if (messages.length === 0) break;
          expect(messages.length).toBeLessThanOrEqual(limit);
          read.push(...seqsOf(messages));
          after = messages[messages.length - 1]?.seq ?? after;
        }
        expect(read).toEqual(expected);
      }
      expect((await tables(name)).segments.map(([first]) => first)).toEqual([1, 11, 21, 31, 61, 71, 81, 91]);
    });

    it("every field of a message survives, and a run longer than a segment is cut into ack rows", async () => {
      const { name, epoch } = await ownedQueue(store);
      const odd = [
        queueMessage(1, { payload: JSON.stringify("naïve ☃ 𝄞 😀\n\n"), headers: JSON.stringify({ k: "ä" }) }),
        queueMessage(2, { expiresAt: 123, availableAt: 456, deliveries: 4 }),
        queueMessage(3, { payload: '""', headers: "{}" }),
      ];
      await commit([{ type: "queue.append", queue: name, epoch, messages: odd, nextSeq: 4 }]);
      expect(await store.readQueueMessages(name, 0, 10)).toEqual(odd);

      const count = maxSegmentSeqs + 5;
      await append(name, epoch, 4, 3 + count);
      expect((await tables(name)).segments.map(([first, last]) => [first, last])).toEqual([
        [1, 3],
        [4, 3 + maxSegmentSeqs],
        [4 + maxSegmentSeqs, 3 + count],
      ]);
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(2, 3 + count) }]);
      // Ack rows go once no live segment is left below them, or at the next sweep: these wait for seqs 1 … 3.
      expect(await tables(name)).toEqual({
        segments: [[1, 3, 3, 2]],
        acks: [
          [2, maxSegmentSeqs + 1],
          [maxSegmentSeqs + 2, maxSegmentSeqs + 8],
        ],
        states: [],
      });
      expect(await store.readQueueMessages(name, 0, 10)).toEqual([odd[0]]);
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: [1] }]);
      expect(await tables(name)).toEqual({ segments: [], acks: [], states: [] });
    });

    it("a read sees a commit that empties a segment whole or not at all, though the store's sessions read committed", async () => {
      const { name, epoch } = await ownedQueue(store);
      await append(name, epoch, 1, 10);
      await append(name, epoch, 11, 20);
      await commit([{ type: "queue.remove", queue: name, epoch, seqs: range(1, 9) }]);
      // Between the read's first SELECT (the segments) and the next (their ack rows), seq 10 is
      // removed: the first segment goes, and its ack rows (below the lowest live segment) with it.
      const reader = await mysql.createConnection(url);
      await reader.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
      let raced = false;
      const racing = {
        query: async (sql: string, values?: unknown[]) => {
          const answer = await reader.query(sql, values);
          if (!raced && sql.startsWith("SELECT first_seq, last_seq, body")) {
            raced = true;
            await commit([{ type: "queue.remove", queue: name, epoch, seqs: [10] }]);
          }
          return answer;
        },
      } as unknown as mysql.Connection;
      try {
        expect(seqsOf(await readSegmentsInSnapshot(racing, name, 0, 100))).toEqual(range(10, 20));
        expect(raced).toBe(true);
        expect(seqsOf(await store.readQueueMessages(name, 0, 100))).toEqual(range(11, 20));
      } finally {
        await reader.end();
      }
    });

    it("deleting the queue leaves none of its rows", async () => {
      const { name, epoch } = await ownedQueue(store);
      await append(name, epoch, 1, 5);
      await commit([
        { type: "queue.remove", queue: name, epoch, seqs: [2] },
        { type: "queue.update", queue: name, epoch, changes: [{ seq: 3, deliveries: 1, availableAt: 7 }] },
      ]);
      expect(await store.deleteQueue(name)).toBe(true);
      expect(await tables(name)).toEqual({ segments: [], acks: [], states: [] });
    });
  });
}

describe("MySQL migration 007: messages stored as rows become segments", () => {
  it("reads back every message of a database written at schema 006 exactly, and carries on from it", async () => {
    const databaseUrl = await createTestDatabase("migrate_from_006");
    const old = await databaseAtSchema(databaseUrl, 6);
    const store = await createMysqlStore({ url: databaseUrl });
    try {
      const name = uniqueName("q006");
      await store.createQueue(queueDefinition(name));
      const messages = [
        queueMessage(1, {
          payload: JSON.stringify("naïve ☃ 𝄞 😀 'quoted' \\ back"),
          headers: JSON.stringify({ k: "ä" }),
        }),
        queueMessage(2, { expiresAt: 123, availableAt: 456, deliveries: 4 }),
        queueMessage(3, { payload: '""', headers: "{}" }),
        queueMessage(5),
      ];
      for (const m of messages) {
        await old.query(
          "INSERT INTO queue_messages (queue, seq, payload, headers, published_at, available_at, expires_at, deliveries) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          [name, m.seq, m.payload, m.headers, m.publishedAt, m.availableAt, m.expiresAt, m.deliveries],
        );
      }
      await old.query("UPDATE queues SET next_seq = 6 WHERE name = ?", [name]);

      await store.migrate();
      expect(await store.readQueueMessages(name, 0, 10)).toEqual(messages);
      expect(await store.countQueueMessages(name)).toBe(4);
      // A node still on schema 006 can no longer write rows nobody reads: its commit fails.
      await expect(
        old.query(
          "INSERT INTO queue_messages (queue, seq, payload, headers, published_at, available_at, expires_at, deliveries) VALUES (?, 7, '1', NULL, 1, 1, NULL, 0)",
          [name],
        ),
      ).rejects.toThrow(/queue_messages/);
      const [kept] = await old.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM queue_messages_007");
      expect(Number(kept[0]?.n)).toBe(4);
      // Interrupted and run again, the migration copies nothing twice.
      for (const migration of await loadMigrations(
        new URL("../../src/store/mysql/migrations/", import.meta.url),
      )) {
        if (migration.version !== 7) continue;
        for (const statement of splitStatements(migration.sql)) await old.query(statement);
      }
      expect(await store.readQueueMessages(name, 0, 10)).toEqual(messages);

      const claimed = await store.claim("queue", name);
      const epoch = claimed?.epoch ?? -1;
      expect(
        await store.commit([
          { type: "queue.append", queue: name, epoch, messages: [queueMessage(6)], nextSeq: 7 },
          { type: "queue.remove", queue: name, epoch, seqs: [2, 1, 5] },
          { type: "queue.update", queue: name, epoch, changes: [{ seq: 3, deliveries: 1, availableAt: 9 }] },
        ]),
      ).toEqual(["ok", "ok", "ok"]);
      const after = await store.readQueueMessages(name, 0, 10);
      expect(seqsOf(after)).toEqual([3, 6]);
      expect(after[0]).toMatchObject({ deliveries: 1, availableAt: 9 });
    } finally {
      await old.end();
      await store.close();
      await dropTestDatabase(databaseUrl);
    }
  });
});
