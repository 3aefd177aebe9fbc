import { describe, expect, it } from "vitest";
import { DeadLetterMover } from "../../src/broker/queue/dead-letter-mover.ts";
import type { DeadLetterCause } from "../../src/broker/queue/queue-ports.ts";
import type { QueueMessage } from "../../src/broker/types.ts";
import { settle } from "../helpers/manual-clock.ts";
import { queueMessage } from "../helpers/queue-message.ts";

function message(seq: number): QueueMessage {
  return queueMessage(seq, { deliveries: 1 });
}

/** A move the test answers by hand, so it can add messages while one is in flight. */
function harness() {
  const moves: Array<{ seqs: number[]; cause: DeadLetterCause; resolve(): void; reject(): void }> = [];
  const moved: number[][] = [];
  let retries = 0;
  const mover = new DeadLetterMover(
    (messages, cause) =>
      new Promise<void>((resolve, reject) => {
        moves.push({
          seqs: messages.map((m) => m.seq),
          cause,
          resolve,
          reject: () => reject(new Error("down")),
        });
      }),
    (messages) => moved.push(messages.map((m) => m.seq)),
    () => {
      retries += 1;
    },
  );
  return { mover, moves, moved, retries: () => retries };
}

describe("DeadLetterMover", () => {
  it("moves one cause at a time: a batch never mixes causes, in arrival order", async () => {
    const { mover, moves, moved } = harness();
    mover.add(message(1), "expired");
    mover.add(message(2), "max_deliveries");
    mover.add(message(3), "expired");
    expect(moves.map((m) => [m.cause, m.seqs])).toEqual([["expired", [1]]]);
    moves[0]?.resolve();
    await settle();
    // Two and three arrived while one was moving: the next batch takes the head's cause only.
    expect(moves.map((m) => [m.cause, m.seqs])).toEqual([
      ["expired", [1]],
      ["max_deliveries", [2]],
    ]);
    moves[1]?.resolve();
    await settle();
    expect(moves[2]).toMatchObject({ cause: "expired", seqs: [3] });
    moves[2]?.resolve();
    await settle();
    expect(moved).toEqual([[1], [2], [3]]);
  });

  it("batches the waiting messages of the head's cause, at most 500 per move", async () => {
    const { mover, moves } = harness();
    mover.add(message(0), "expired");
    for (let seq = 1; seq <= 600; seq += 1) mover.add(message(seq), "expired");
    moves[0]?.resolve();
    await settle();
    expect(moves[1]?.seqs.length).toBe(500);
    expect(moves[1]?.seqs[0]).toBe(1);
    moves[1]?.resolve();
    await settle();
    expect(moves[2]?.seqs).toEqual(Array.from({ length: 100 }, (_, i) => 501 + i));
  });

  it("keeps the messages after a failed move, asks for a retry, and moves them on the next run", async () => {
    const { mover, moves, moved, retries } = harness();
    mover.add(message(1), "expired");
    moves[0]?.reject();
    await settle();
    expect(retries()).toBe(1);
    expect(moved).toEqual([]);
    void mover.run();
    await settle();
    // The retry runs at all (the failure released the mover) and takes the same message.
    expect(moves[1]?.seqs).toEqual([1]);
    moves[1]?.resolve();
    await settle();
    expect(moved).toEqual([[1]]);
  });

  it("forgets exactly the moved messages: ones added during the move stay and move next", async () => {
    const { mover, moves, moved } = harness();
    mover.add(message(1), "expired");
    mover.add(message(2), "max_deliveries");
    mover.add(message(3), "expired");
    moves[0]?.resolve(); // carried 1 only: 3 arrived after the batch was taken
    await settle();
    moves[1]?.resolve();
    await settle();
    moves[2]?.resolve();
    await settle();
    expect(moved.flat().sort()).toEqual([1, 2, 3]);
    expect(moves).toHaveLength(3);
    await mover.run();
    expect(moves).toHaveLength(3);
  });

  it("runs one move at a time", async () => {
    const { mover, moves } = harness();
    mover.add(message(1), "expired");
    mover.add(message(2), "expired");
    await mover.run();
    expect(moves).toHaveLength(1);
    moves[0]?.resolve();
    await settle();
    expect(moves[1]?.seqs).toEqual([2]);
  });
});
