import { describe, expect, it } from "vitest";
import { checkHistory } from "../cluster/faults/checker.ts";
import {
  emptyHistory,
  type History,
  type PublishedMessage,
  type QueueDeliveryRecord,
  type TopicDeliveryRecord,
} from "../cluster/faults/history.ts";

const T0 = 1_000_000;

function published(
  publisher: string,
  seq: number,
  resource: string,
  position: string | undefined,
  sentAt = T0,
  kind: "queue" | "topic" = "queue",
): PublishedMessage {
  return {
    publisher,
    seq,
    kind,
    resource,
    firstSentAt: sentAt,
    ...(position === undefined ? {} : { ack: { at: sentAt + 5, attemptSentAt: sentAt, position } }),
  };
}

function delivered(
  queue: string,
  id: string,
  publisher: string,
  seq: number,
  at = T0 + 10,
  deliveries = 1,
): QueueDeliveryRecord {
  return { consumer: "c0", queue, id, payload: { publisher, seq }, deliveries, url: "n0", at };
}

function received(
  subscriber: string,
  topic: string,
  offset: number,
  publisher: string,
  seq: number,
  at = T0 + 10,
): TopicDeliveryRecord {
  return { subscriber, topic, offset, payload: { publisher, seq }, url: "n0", at };
}

/** Queue "q" (order queue "o") with messages p#0…p#2 acknowledged as ids 1…3, each consumed once. */
function cleanHistory(): History {
  const history = emptyHistory("o");
  history.messages.push(
    published("p", 0, "q", "1"),
    published("p", 1, "q", "2"),
    published("p", 2, "q", "3"),
  );
  history.queueDeliveries.push(
    delivered("q", "1", "p", 0),
    delivered("q", "2", "p", 1),
    delivered("q", "3", "p", 2),
  );
  return history;
}

describe("history checker", () => {
  it("passes a clean history and reports no duplicates", () => {
    const report = checkHistory("clean", cleanHistory());
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.counts).toMatchObject({
      acknowledged: 3,
      queueDeliveries: 3,
      uniqueQueueMessagesConsumed: 3,
    });
    expect(report.duplicates).toEqual({ queueDeliveries: 0, topicDeliveries: 0 });
  });

  it("reports an acknowledged message that was never consumed as lost", () => {
    const history = cleanHistory();
    history.queueDeliveries.pop();
    const report = checkHistory("lost", history);
    expect(report.ok).toBe(false);
    expect(report.lost).toEqual({ count: 1, sample: ["q@3 (p#2)"] });
  });

  it("does not count a consumed message whose publish was never acknowledged as a phantom", () => {
    const history = cleanHistory();
    history.messages.push(published("p", 3, "q", undefined));
    history.queueDeliveries.push(delivered("q", "4", "p", 3));
    expect(checkHistory("unacknowledged", history).ok).toBe(true);
  });

  it("reports deliveries of messages never published there as phantoms", () => {
    const history = cleanHistory();
    history.queueDeliveries.push(delivered("q", "9", "ghost", 0), delivered("other", "1", "p", 0));
    const report = checkHistory("phantom", history);
    expect(report.phantoms.count).toBe(2);
  });

  it("reports an id that names two different messages (a stale serving node writing over another)", () => {
    const history = cleanHistory();
    history.messages.push(published("p", 3, "q", "3"));
    history.queueDeliveries.push(delivered("q", "3", "p", 3));
    const report = checkHistory("conflict", history);
    expect(report.idConflicts.count).toBeGreaterThanOrEqual(1);
    expect(report.ok).toBe(false);
  });

  it("reports a message stored under two ids (a retried publish stored again)", () => {
    const history = cleanHistory();
    history.queueDeliveries.push(delivered("q", "4", "p", 2));
    const report = checkHistory("twice", history);
    expect(report.storedTwice).toEqual({ count: 1, sample: ["p#2 under ids 3,4"] });
  });

  it("counts redeliveries as duplicates, not failures", () => {
    const history = cleanHistory();
    history.queueDeliveries.push(delivered("q", "2", "p", 1, T0 + 20, 2));
    const report = checkHistory("duplicates", history);
    expect(report.ok).toBe(true);
    expect(report.duplicates.queueDeliveries).toBe(1);
  });

  it("allows a redelivery only of a delivery whose ack was not confirmed before it", () => {
    const history = cleanHistory();
    // Ack of id 1 confirmed; id 2's ack never answered (in flight at a fault); both come again later.
    history.queueAcks.push({ consumer: "c0", queue: "q", id: "1", at: T0 + 11 });
    history.faults.push({ label: "kill", at: T0 + 15, queues: [], topics: [] });
    history.queueDeliveries.push(delivered("q", "2", "p", 1, T0 + 20, 2));
    expect(checkHistory("unconfirmed", history).ok).toBe(true);
    history.queueDeliveries.push(delivered("q", "1", "p", 0, T0 + 20, 2));
    const report = checkHistory("confirmed", history);
    expect(report.ok).toBe(false);
    expect(report.ackedRedelivered).toEqual({
      count: 1,
      sample: ["q@1 delivered to c0 (delivery 2) 9 ms after its ack was confirmed"],
    });
  });

  it("fails a failover that forgot every ack: everything consumed comes again", () => {
    const history = cleanHistory();
    for (const id of ["1", "2", "3"]) history.queueAcks.push({ consumer: "c0", queue: "q", id, at: T0 + 11 });
    history.faults.push({ label: "kill serving node", at: T0 + 15, queues: ["q"], topics: [] });
    history.queueDeliveries.push(
      delivered("q", "1", "p", 0, T0 + 30, 2),
      delivered("q", "2", "p", 1, T0 + 30, 2),
      delivered("q", "3", "p", 2, T0 + 30, 2),
    );
    const report = checkHistory("forgot acks", history);
    expect(report.ok).toBe(false);
    expect(report.duplicates.queueDeliveries).toBe(3);
    expect(report.ackedRedelivered.count).toBe(3);
    expect(report.problems).toEqual([
      expect.stringMatching(/^3 queue messages delivered again after their ack was confirmed/),
    ]);
  });

  it("lets redeliveries on the order queue come late, but not first deliveries", () => {
    const history = emptyHistory("o");
    for (let seq = 0; seq < 6; seq += 1) history.messages.push(published("p", seq, "o", String(seq + 1)));
    history.queueDeliveries.push(
      delivered("o", "1", "p", 0),
      delivered("o", "2", "p", 1),
      delivered("o", "3", "p", 2),
      // After a crash the count may be one short: a repeated id is a redelivery all the same.
      delivered("o", "2", "p", 1, T0 + 11, 1),
      delivered("o", "4", "p", 3),
      delivered("o", "6", "p", 5),
      delivered("o", "5", "p", 4),
    );
    const report = checkHistory("order", history);
    expect(report.orderViolations).toEqual({ count: 1, sample: ["o: id 5 first delivered after id 6"] });
  });

  it("finds a gap in a resumed topic stream and a tail that never arrived, and counts topic duplicates", () => {
    const history = emptyHistory("o");
    for (let offset = 0; offset < 6; offset += 1) {
      history.messages.push(published("p", offset, "t", String(offset), T0, "topic"));
    }
    history.topicStreams.push(
      { subscriber: "s0", topic: "t", startOffset: 0 },
      { subscriber: "s1", topic: "t", startOffset: 0 },
    );
    for (const offset of [0, 1, 2, 3, 4, 5, 5])
      history.topicDeliveries.push(received("s0", "t", offset, "p", offset));
    for (const offset of [0, 1, 3]) history.topicDeliveries.push(received("s1", "t", offset, "p", offset));
    const report = checkHistory("topics", history);
    expect(report.duplicates.topicDeliveries).toBe(1);
    expect(report.topicGaps.sample).toEqual([
      "s1 on t: offset 3 came after 1 (missing 2…2)",
      "s1 on t: acknowledged offset 4 never arrived",
      "s1 on t: acknowledged offset 5 never arrived",
    ]);
  });

  it("reports a subscriber that received nothing at all as missing everything from its start", () => {
    const history = emptyHistory("o");
    history.messages.push(published("p", 0, "t", "0", T0, "topic"));
    history.topicStreams.push({ subscriber: "s0", topic: "t", startOffset: 0 });
    expect(checkHistory("silent", history).topicGaps.count).toBe(1);
  });

  it("measures failover from the fault to what only a new serving node can have done, and the longest stall", () => {
    const history = emptyHistory("o");
    const fault = T0 + 1000;
    history.faults.push({ label: "kill", at: fault, queues: ["q"], topics: [] });
    // Before the fault; one old message's delivery arrives just after it (the old owner's last frame).
    history.messages.push(published("p", 0, "q", "1", T0), published("p", 1, "q", "2", T0 + 900));
    history.queueDeliveries.push(
      delivered("q", "1", "p", 0, T0 + 10),
      delivered("q", "2", "p", 1, fault + 5),
    );
    // After the fault: a publish sent at +100 ms is acknowledged at +3000 ms and delivered at +3100 ms;
    // the redelivery of id 1 at +2900 ms is the new owner's first delivery.
    history.messages.push({
      ...published("p", 2, "q", "3", fault + 100),
      ack: { at: fault + 3000, attemptSentAt: fault + 100, position: "3" },
    });
    history.queueDeliveries.push(
      delivered("q", "1", "p", 0, fault + 2900, 2),
      delivered("q", "3", "p", 2, fault + 3100),
    );
    const [times] = checkHistory("failover", history).failover;
    expect(times).toMatchObject({ firstPublishMs: 3000, firstDeliveryMs: 2900, deliveryStallMs: 2895 });
    expect(times?.publishStallMs).toBe(3000);
  });
});
