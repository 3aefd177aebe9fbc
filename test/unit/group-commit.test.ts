import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type CommitBatchStats, createGroupCommitter } from "../../src/store/group-commit.ts";
import type { WriteOp, WriteOutcome } from "../../src/store/store.ts";
import { queueMessage } from "../helpers/queue-message.ts";

/** A store whose commits the test completes by hand, recording each batch. */
function fakeStore() {
  const calls: { ops: WriteOp[]; settle: (result: WriteOutcome[] | Error) => void }[] = [];
  const store = {
    commit(ops: WriteOp[]): Promise<WriteOutcome[]> {
      return new Promise((resolve, reject) => {
        calls.push({
          ops,
          settle: (result) => (result instanceof Error ? reject(result) : resolve(result)),
        });
      });
    },
  };
  /** Completes call `index` with "ok" for every op. */
  const succeed = (index: number) => {
    const call = calls[index];
    if (call === undefined) throw new Error(`no commit #${index}`);
    call.settle(call.ops.map(() => "ok"));
  };
  return { store, calls, succeed };
}

function append(queue: string, count = 1): WriteOp {
  const messages = Array.from({ length: count }, (_, i) => queueMessage(i + 1));
  return { type: "queue.append", queue, epoch: 1, messages, nextSeq: count + 1 };
}

/** Lets the committer's setImmediate fire and the promise callbacks after it run. */
async function tick(): Promise<void> {
  await vi.runOnlyPendingTimersAsync();
}

describe("createGroupCommitter", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setImmediate"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("puts writes made in the same tick into one store.commit and answers each with its own outcome", async () => {
    const { store, calls } = fakeStore();
    const committer = createGroupCommitter(store);
    const a = committer.write(append("a"));
    const b = committer.write(append("b"));
    const c = committer.write({ type: "topic.trim", topic: "t", epoch: 1, beforeOffset: 3 });
    expect(calls).toHaveLength(0);
    await tick();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.ops.map((op) => op.type)).toEqual(["queue.append", "queue.append", "topic.trim"]);
    calls[0]?.settle(["ok", "fenced", "missing"]);
    await expect(Promise.all([a, b, c])).resolves.toEqual(["ok", "fenced", "missing"]);
  });

  it("keeps one commit in flight and sends what arrived meanwhile as the next single batch, in order", async () => {
    const { store, calls, succeed } = fakeStore();
    const committer = createGroupCommitter(store);
    const first = committer.write(append("q1"));
    await tick();
    expect(calls).toHaveLength(1);

    const later = [
      committer.write(append("q2")),
      committer.write(append("q1")),
      committer.write(append("q3")),
    ];
    await tick();
    expect(calls).toHaveLength(1);

    succeed(0);
    await expect(first).resolves.toBe("ok");
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]?.ops.map((op) => ("queue" in op ? op.queue : ""))).toEqual(["q2", "q1", "q3"]);
    succeed(1);
    await expect(Promise.all(later)).resolves.toEqual(["ok", "ok", "ok"]);
  });

  it("rejects every op of a failed batch with the store's error and carries on with the next batch", async () => {
    const { store, calls, succeed } = fakeStore();
    const committer = createGroupCommitter(store);
    const failing = [committer.write(append("a")), committer.write(append("b"))];
    await tick();
    const next = committer.write(append("c"));
    const boom = new Error("connection lost");
    calls[0]?.settle(boom);
    expect(await Promise.allSettled(failing)).toEqual([
      { status: "rejected", reason: boom },
      { status: "rejected", reason: boom },
    ]);
    await tick();
    expect(calls).toHaveLength(2);
    succeed(1);
    await expect(next).resolves.toBe("ok");
  });

  it("rejects the batch when store.commit throws synchronously", async () => {
    const boom = new Error("sync failure");
    const committer = createGroupCommitter({
      commit: () => {
        throw boom;
      },
    });
    const rejected = expect(committer.write(append("a"))).rejects.toBe(boom);
    await tick();
    await rejected;
  });

  it("rejects with INTERNAL when the store answers the wrong number of outcomes", async () => {
    const { store, calls } = fakeStore();
    const committer = createGroupCommitter(store);
    const writes = [committer.write(append("a")), committer.write(append("b"))];
    await tick();
    calls[0]?.settle(["ok"]);
    const results = await Promise.allSettled(writes);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(results[0]).toMatchObject({ reason: { reason: "INTERNAL" } });
  });

  it("splits batches at maxBatchOps, keeping submission order", async () => {
    const { store, calls, succeed } = fakeStore();
    const committer = createGroupCommitter(store, { maxBatchOps: 2 });
    const writes = ["a", "b", "c", "d", "e"].map((q) => committer.write(append(q)));
    const queuesOf = (i: number) => calls[i]?.ops.map((op) => ("queue" in op ? op.queue : ""));
    await tick();
    expect(queuesOf(0)).toEqual(["a", "b"]);
    succeed(0);
    await tick();
    expect(queuesOf(1)).toEqual(["c", "d"]);
    succeed(1);
    await tick();
    expect(queuesOf(2)).toEqual(["e"]);
    succeed(2);
    await expect(Promise.all(writes)).resolves.toEqual(["ok", "ok", "ok", "ok", "ok"]);
  });

  it("splits batches at maxBatchMessages and sends an oversized op alone", async () => {
    const { store, calls, succeed } = fakeStore();
    const committer = createGroupCommitter(store, { maxBatchMessages: 5 });
    const writes = [
      committer.write(append("a", 2)),
      committer.write(append("b", 3)),
      committer.write(append("c", 8)),
      committer.write({ type: "queue.remove", queue: "d", epoch: 1, seqs: [1] }),
    ];
    const sizes: number[][] = [];
    for (let i = 0; i < 3; i++) {
      await tick();
      const call = calls[i];
      sizes.push(call?.ops.map((op) => (op.type === "queue.append" ? op.messages.length : 1)) ?? []);
      succeed(i);
    }
    expect(sizes).toEqual([[2, 3], [8], [1]]);
    await expect(Promise.all(writes)).resolves.toHaveLength(4);
  });

  it("reports each batch to onBatch", async () => {
    const { store, calls, succeed } = fakeStore();
    const batches: CommitBatchStats[] = [];
    const committer = createGroupCommitter(store, { onBatch: (stats) => batches.push(stats) });
    const ok = [
      committer.write(append("a", 3)),
      committer.write({ type: "queue.remove", queue: "a", epoch: 1, seqs: [1, 2] }),
    ];
    await tick();
    succeed(0);
    await Promise.all(ok);
    const failed = committer.write(append("b", 1));
    await tick();
    calls[1]?.settle(new Error("down"));
    await expect(failed).rejects.toThrow("down");
    expect(batches.map(({ ops, rows, failed }) => ({ ops, rows, failed }))).toEqual([
      { ops: 2, rows: 5, failed: false },
      { ops: 1, rows: 1, failed: true },
    ]);
    expect(batches.every((b) => b.durationMs >= 0)).toBe(true);
  });

  it("flush resolves once every earlier write has settled, failed ones included", async () => {
    const { store, calls, succeed } = fakeStore();
    const committer = createGroupCommitter(store, { maxBatchOps: 1 });
    await expect(committer.flush()).resolves.toBeUndefined();
    const failing = committer.write(append("a"));
    failing.catch(() => undefined);
    const passing = committer.write(append("b"));
    let flushed = false;
    const flush = committer.flush().then(() => {
      flushed = true;
    });
    await tick();
    calls[0]?.settle(new Error("down"));
    await tick();
    expect(flushed).toBe(false);
    succeed(1);
    await flush;
    expect(flushed).toBe(true);
    await expect(passing).resolves.toBe("ok");
  });

  it("close waits for pending writes and refuses new ones with SHUTTING_DOWN", async () => {
    const { store, calls, succeed } = fakeStore();
    const committer = createGroupCommitter(store);
    const pending = committer.write(append("a"));
    let closed = false;
    const closing = committer.close().then(() => {
      closed = true;
    });
    await expect(committer.write(append("b"))).rejects.toMatchObject({ reason: "SHUTTING_DOWN" });
    await tick();
    expect(closed).toBe(false);
    succeed(0);
    await closing;
    expect(closed).toBe(true);
    await expect(pending).resolves.toBe("ok");
    expect(calls).toHaveLength(1);
  });

  it("fails a commit the store does not answer in time with STORE_UNAVAILABLE, and goes on", async () => {
    vi.useFakeTimers({ toFake: ["setImmediate", "setTimeout", "clearTimeout"] });
    const { store, calls, succeed } = fakeStore();
    const committer = createGroupCommitter(store, { commitTimeoutMs: 1000 });
    const hung = committer.write(append("q1"));
    const hungResult = hung.catch((error: unknown) => error);
    await tick();
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await hungResult).toMatchObject({ reason: "STORE_UNAVAILABLE" });
    const next = committer.write(append("q2"));
    await tick();
    expect(calls).toHaveLength(2);
    succeed(1);
    expect(await next).toBe("ok");
  });

  describe("with lanes", () => {
    /** The queue each store.commit call carries, per call. */
    function queuesOf(calls: { ops: WriteOp[] }[]): string[][] {
      return calls.map((call) => call.ops.map((op) => ("queue" in op ? op.queue : "")));
    }

    it("commits different resources' batches side by side, one transaction in flight per lane", async () => {
      const { store, calls, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { lanes: 2 });
      const a = committer.write(append("a"));
      const b = committer.write(append("b"));
      await tick();
      // Two lanes: two transactions at once, each with its own resource.
      expect(queuesOf(calls)).toEqual([["a"], ["b"]]);
      // A third resource, with both lanes busy, waits for one of them (the first of equals).
      const c = committer.write(append("c"));
      await tick();
      expect(calls).toHaveLength(2);
      succeed(1);
      await tick();
      expect(calls).toHaveLength(2);
      succeed(0);
      await tick();
      expect(queuesOf(calls)[2]).toEqual(["c"]);
      succeed(2);
      await expect(Promise.all([a, b, c])).resolves.toEqual(["ok", "ok", "ok"]);
    });

    it("keeps one resource's ops in submission order: they share a lane while any is unanswered", async () => {
      const { store, calls, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { lanes: 4 });
      const first = committer.write(append("orders"));
      await tick();
      const second = committer.write({ type: "queue.remove", queue: "orders", epoch: 1, seqs: [1] });
      await tick();
      // The remove waits for the append's transaction: no idle lane takes it.
      expect(calls).toHaveLength(1);
      succeed(0);
      await tick();
      expect(calls).toHaveLength(2);
      expect(calls[1]?.ops[0]?.type).toBe("queue.remove");
      succeed(1);
      await expect(Promise.all([first, second])).resolves.toEqual(["ok", "ok"]);
    });

    it("keeps a resource in its lane until its last op is answered, not only its first", async () => {
      const { store, calls, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { lanes: 2 });
      const writes = [committer.write(append("x"))];
      await tick();
      writes.push(committer.write(append("x")), committer.write(append("y")));
      await tick();
      expect(queuesOf(calls)).toEqual([["x"], ["y"]]);
      succeed(0);
      await writes[0];
      await tick();
      // x's second op is in flight now; y's lane goes idle.
      expect(queuesOf(calls)[2]).toEqual(["x"]);
      succeed(1);
      await writes[2];
      const third = committer.write(append("x"));
      await tick();
      // Not to the idle lane: it waits behind x's op in flight.
      expect(calls).toHaveLength(3);
      succeed(2);
      await tick();
      expect(queuesOf(calls)[3]).toEqual(["x"]);
      succeed(3);
      await expect(Promise.all([...writes, third])).resolves.toEqual(["ok", "ok", "ok", "ok"]);
    });

    it("sends a quiet resource to the least busy lane, not behind a busy one's transaction", async () => {
      const { store, calls, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { lanes: 2 });
      // "hot" holds lane 1's transaction and has more waiting; "warm" holds lane 2's, with nothing waiting.
      const hot = [committer.write(append("hot")), committer.write(append("warm"))];
      await tick();
      hot.push(committer.write(append("hot")), committer.write(append("hot")));
      await tick();
      expect(queuesOf(calls)).toEqual([["hot"], ["warm"]]);
      // "quiet" has nothing unanswered: it joins the lane with fewer unanswered ops (warm's).
      const quiet = committer.write(append("quiet"));
      await tick();
      succeed(1);
      await tick();
      expect(queuesOf(calls)[2]).toEqual(["quiet"]);
      succeed(2);
      await expect(quiet).resolves.toBe("ok");
      // Still waiting: hot's second batch, behind its first.
      expect(calls).toHaveLength(3);
      succeed(0);
      await tick();
      expect(queuesOf(calls)[3]).toEqual(["hot", "hot"]);
      succeed(3);
      await expect(Promise.all(hot)).resolves.toEqual(["ok", "ok", "ok", "ok"]);
    });

    it("lets a resource change lanes once all its ops are answered", async () => {
      const { store, calls, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { lanes: 2 });
      const writes = [committer.write(append("a")), committer.write(append("b"))];
      await tick();
      expect(queuesOf(calls)).toEqual([["a"], ["b"]]);
      succeed(0);
      await writes[0];
      writes.push(committer.write(append("c")));
      await tick();
      succeed(1);
      await writes[1];
      // a's first lane is busy with c now; a has nothing unanswered, so it takes b's idle lane at once.
      writes.push(committer.write(append("a")));
      await tick();
      expect(queuesOf(calls)).toEqual([["a"], ["b"], ["c"], ["a"]]);
      succeed(2);
      succeed(3);
      await expect(Promise.all(writes)).resolves.toEqual(["ok", "ok", "ok", "ok"]);
    });

    it("flushes and closes every lane", async () => {
      const { store, calls, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { lanes: 3 });
      for (const name of ["a", "b", "c"]) void committer.write(append(name));
      await tick();
      expect(calls).toHaveLength(3);
      let closed = false;
      const closing = committer.close().then(() => {
        closed = true;
      });
      succeed(0);
      succeed(1);
      await tick();
      expect(closed).toBe(false);
      succeed(2);
      await closing;
      expect(closed).toBe(true);
      await expect(committer.write(append("a"))).rejects.toMatchObject({
        reason: "SHUTTING_DOWN",
      });
    });
  });

  describe("with a pipeline", () => {
    it("keeps up to `pipeline` commits of one lane in flight, and queues the rest", async () => {
      const { store, calls, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { pipeline: 2 });
      void committer.write(append("q"));
      await tick();
      void committer.write(append("q"));
      await tick();
      expect(calls).toHaveLength(2); // the second started while the first is in flight
      void committer.write(append("q"));
      await tick();
      expect(calls).toHaveLength(2); // two in flight: the third waits
      succeed(1);
      await tick();
      expect(calls).toHaveLength(3);
      succeed(0);
      succeed(2);
      await committer.flush();
    });

    it("answers batches in submission order, whichever transaction finished first", async () => {
      const { store, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { pipeline: 2 });
      const answered: string[] = [];
      const first = committer.write(append("q")).then(() => answered.push("first"));
      await tick();
      const second = committer.write(append("q")).then(() => answered.push("second"));
      await tick();
      succeed(1);
      await tick();
      expect(answered).toEqual([]); // the later batch waits for the earlier one's answer
      succeed(0);
      await Promise.all([first, second]);
      expect(answered).toEqual(["first", "second"]);
    });

    it("fails only the batch whose transaction failed; a later batch still commits", async () => {
      const { store, calls, succeed } = fakeStore();
      const committer = createGroupCommitter(store, { pipeline: 2 });
      const first = committer.write(append("q"));
      await tick();
      const second = committer.write(append("q"));
      await tick();
      calls[0]?.settle(new Error("deadlock"));
      succeed(1);
      await expect(first).rejects.toThrow("deadlock");
      await expect(second).resolves.toBe("ok");
    });

    it("with pipeline 1 keeps a single commit in flight", async () => {
      const { store, calls } = fakeStore();
      const committer = createGroupCommitter(store, { pipeline: 1 });
      void committer.write(append("q"));
      await tick();
      void committer.write(append("q"));
      await tick();
      expect(calls).toHaveLength(1);
    });
  });
});
