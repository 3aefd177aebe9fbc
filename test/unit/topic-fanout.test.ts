import { describe, expect, it } from "vitest";
import {
  type FanoutMember,
  type LiveGroups,
  type ReplayInfo,
  type StartPosition,
  TopicFanout,
} from "../../src/broker/topic/topic-fanout.ts";
import type { TopicMessage } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { FakeTopicFeed } from "../helpers/fake-topic-feed.ts";
import { settle } from "../helpers/manual-clock.ts";

const message = (offset: number, key = "k"): TopicMessage => ({
  offset,
  key,
  payload: String(offset),
  headers: null,
  publishedAt: offset,
});

/** A feed over an in-memory log; `first` and the log's length bound what is readable, `nextRead` overrides one read. */
class LogFeed extends FakeTopicFeed {
  log: TopicMessage[] = [];
  first = 0;
  reads: Array<{ from: number; limit: number }> = [];
  nextRead: ((from: number, limit: number) => Promise<TopicMessage[]>) | null = null;

  nextOffset(): number {
    return this.log.length;
  }
  firstOffset(): number {
    return this.first;
  }
  read(from: number, limit: number): Promise<TopicMessage[]> {
    this.reads.push({ from, limit });
    const override = this.nextRead;
    if (override !== null) {
      this.nextRead = null;
      return override(from, limit);
    }
    const start = Math.max(from, this.first);
    return Promise.resolve(this.log.slice(start, start + limit));
  }
  commit(...keys: string[]): void {
    const batch = keys.map((key, i) => message(this.log.length + i, key));
    this.log.push(...batch);
    this.committed(batch);
  }
  fill(count: number, key = "k"): void {
    for (let i = 0; i < count; i += 1) this.log.push(message(this.log.length, key));
  }
}

class RecordingGroups implements LiveGroups {
  readonly published: Array<{ group: string; offsets: number[] }> = [];
  readonly ended: Array<{ group: string; reason: string }> = [];
  publish(group: string, messages: readonly TopicMessage[]): void {
    this.published.push({ group, offsets: messages.map((m) => m.offset) });
  }
  end(group: string, reason: AvisoError): void {
    this.ended.push({ group, reason: reason.reason });
  }
  offsetsOf(group: string): number[] {
    return this.published.filter((p) => p.group === group).flatMap((p) => p.offsets);
  }
}

class Member implements FanoutMember {
  joinedWith: { group: string; start: number } | null = null;
  replayPages: number[][] = [];
  live: { group: string; replay: ReplayInfo | null } | null = null;
  endedWith: AvisoError | null = null;
  left = false;
  failJoin = false;
  joined(group: string, start: number): void {
    if (this.failJoin) throw new AvisoError("SUBSCRIPTION_ID_IN_USE");
    this.joinedWith = { group, start };
  }
  sendReplay(messages: readonly TopicMessage[]): void {
    this.replayPages.push(messages.map((m) => m.offset));
  }
  goLive(group: string, replay: ReplayInfo | null): void {
    this.live = { group, replay };
  }
  end(reason: AvisoError): void {
    this.endedWith = reason;
  }
  get replayed(): number[] {
    return this.replayPages.flat();
  }
}

function setup(pageSize = 4) {
  const feed = new LogFeed("events");
  const groups = new RecordingGroups();
  let keys = 0;
  const fanout = new TopicFanout(feed, groups, () => `g${keys++}`, pageSize);
  return { feed, groups, fanout };
}

async function settleMany(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await settle();
}

describe("TopicFanout joining", () => {
  it("starts a 'latest' member live at once at the next offset, with no replay", () => {
    const { feed, fanout } = setup();
    feed.fill(5);
    const member = new Member();
    const key = fanout.join("#", "latest", member);
    expect(member.joinedWith).toEqual({ group: key, start: 5 });
    expect(member.live).toEqual({ group: key, replay: null });
    expect(feed.reads).toEqual([]);
  });

  it("starts an 'earliest' member at the oldest retained offset", async () => {
    const { feed, fanout } = setup();
    feed.fill(6);
    feed.first = 2;
    const member = new Member();
    const key = fanout.join("#", "earliest", member);
    expect(member.joinedWith).toEqual({ group: key, start: 2 });
    expect(member.live).toBeNull();
    await settleMany();
    expect(member.replayed).toEqual([2, 3, 4, 5]);
    expect(member.live).toEqual({ group: key, replay: { from: 2, to: 6, complete: true } });
  });

  it("accepts the next offset itself and refuses one beyond it, naming the head", async () => {
    const { feed, fanout } = setup();
    feed.fill(3);
    const atHead = new Member();
    fanout.join("#", 3, atHead);
    let refused: unknown;
    try {
      fanout.join("#", 4, new Member());
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(AvisoError);
    expect(refused).toMatchObject({ reason: "OFFSET_OUT_OF_RANGE", details: { nextOffset: 3 } });
    expect((refused as AvisoError).message).toBe(`Offset 4 is beyond topic "events"'s next offset 3.`);
    await settleMany();
    expect(atHead.live?.replay).toEqual({ from: 3, to: 3, complete: true });
    expect(fanout.memberCount).toBe(1);
  });

  it("shares one group per pattern and counts its members", () => {
    const { fanout } = setup();
    const a = fanout.join("orders.*", "latest", new Member());
    const b = fanout.join("orders.*", "latest", new Member());
    const c = fanout.join("#", "latest", new Member());
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(fanout.memberCount).toBe(3);
  });

  it("cancels a join whose member refuses it, dropping a group that had no one else", () => {
    const { feed, groups, fanout } = setup();
    const refusing = new Member();
    refusing.failJoin = true;
    expect(() => fanout.join("a", "latest", refusing)).toThrow(
      expect.objectContaining({ reason: "SUBSCRIPTION_ID_IN_USE" }),
    );
    expect(fanout.memberCount).toBe(0);
    feed.commit("a");
    expect(groups.published).toEqual([]);
    expect(refusing.live).toBeNull();
  });

  it("keeps a group that still has members when another member refuses to join", () => {
    const { feed, groups, fanout } = setup();
    const key = fanout.join("a", "latest", new Member());
    const refusing = new Member();
    refusing.failJoin = true;
    expect(() => fanout.join("a", 0, refusing)).toThrow(AvisoError);
    expect(fanout.memberCount).toBe(1);
    feed.commit("a");
    expect(groups.offsetsOf(key)).toEqual([0]);
  });
});

describe("TopicFanout live delivery and leaving", () => {
  it("publishes to each group only the messages its pattern matches, and nothing to a group with no match", () => {
    const { feed, groups, fanout } = setup();
    const eu = fanout.join("orders.eu.*", "latest", new Member());
    const all = fanout.join("#", "latest", new Member());
    feed.commit("orders.eu.created", "orders.us.created");
    feed.commit("orders.us.paid");
    expect(groups.published).toEqual([
      { group: eu, offsets: [0] },
      { group: all, offsets: [0, 1] },
      { group: all, offsets: [2] },
    ]);
  });

  it("keeps a group while members remain and drops it when the last one leaves", () => {
    const { feed, groups, fanout } = setup();
    const key = fanout.join("#", "latest", new Member());
    fanout.join("#", "latest", new Member());
    const other = fanout.join("x", "latest", new Member());
    fanout.leave("unknown-group");
    expect(fanout.memberCount).toBe(3);
    fanout.leave(key);
    expect(fanout.memberCount).toBe(2);
    feed.commit("x");
    fanout.leave(key);
    expect(fanout.memberCount).toBe(1);
    feed.commit("x");
    expect(groups.offsetsOf(key)).toEqual([0]);
    expect(groups.offsetsOf(other)).toEqual([0, 1]);
    // A new member of the same pattern gets a fresh group.
    expect(fanout.join("#", "latest", new Member())).not.toBe(key);
  });

  it("is not finished until detached, and delivers nothing after detaching", () => {
    const { feed, groups, fanout } = setup();
    fanout.join("#", "latest", new Member());
    expect(fanout.finished).toBe(false);
    fanout.detach();
    expect(fanout.finished).toBe(true);
    feed.commit("k");
    feed.end(new AvisoError("TOPIC_NOT_FOUND"));
    expect(groups.published).toEqual([]);
    expect(groups.ended).toEqual([]);
  });

  it("ends every group once when the feed ends and refuses later joins with the feed's reason", () => {
    const { feed, groups, fanout } = setup();
    const a = fanout.join("a", "latest", new Member());
    const b = fanout.join("b", "latest", new Member());
    feed.end(new AvisoError("TOPIC_NOT_FOUND"));
    expect(fanout.finished).toBe(true);
    expect(groups.ended).toEqual([
      { group: a, reason: "TOPIC_NOT_FOUND" },
      { group: b, reason: "TOPIC_NOT_FOUND" },
    ]);
    expect(fanout.memberCount).toBe(0);
    expect(() => fanout.join("a", "latest", new Member())).toThrow(
      expect.objectContaining({ reason: "TOPIC_NOT_FOUND" }),
    );
  });
});

describe("TopicFanout replay", () => {
  it("replays page by page, only matching keys, skipping pages with no match", async () => {
    const { feed, fanout } = setup(3);
    feed.fill(3, "b");
    feed.fill(4, "a");
    feed.fill(1, "b");
    const member = new Member();
    const key = fanout.join("a", 0, member);
    await settleMany();
    expect(feed.reads).toEqual([
      { from: 0, limit: 3 },
      { from: 3, limit: 3 },
      { from: 6, limit: 2 },
    ]);
    expect(member.replayPages).toEqual([[3, 4, 5], [6]]);
    expect(member.live).toEqual({ group: key, replay: { from: 0, to: 8, complete: true } });
  });

  it("goes live with no gap and no duplicate when messages commit during the replay", async () => {
    const { feed, groups, fanout } = setup(2);
    feed.fill(5);
    const member = new Member();
    const key = fanout.join("#", 1, member);
    for (let i = 0; i < 6; i += 1) {
      feed.commit("k");
      await settle();
    }
    await settleMany();
    const liveAfterSwitch = groups.offsetsOf(key).filter((o) => o >= (member.live?.replay?.to ?? Infinity));
    expect([...member.replayed, ...liveAfterSwitch]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("starts at the oldest retained offset and reports complete:false when retention dropped the start", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    feed.first = 5;
    const member = new Member();
    fanout.join("#", 2, member);
    await settleMany();
    expect(feed.reads[0]).toEqual({ from: 5, limit: 3 });
    expect(member.replayed).toEqual([5, 6, 7]);
    expect(member.live?.replay).toEqual({ from: 2, to: 8, complete: false });
  });

  it("reports complete:true for a replay from exactly the oldest retained offset", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    feed.first = 5;
    const member = new Member();
    fanout.join("#", 5, member);
    await settleMany();
    expect(member.live?.replay).toEqual({ from: 5, to: 8, complete: true });
  });

  it("goes live at the head with complete:false when retention dropped everything", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    feed.first = 8;
    const member = new Member();
    fanout.join("#", 2, member);
    await settleMany();
    expect(member.replayed).toEqual([]);
    expect(member.live?.replay).toEqual({ from: 2, to: 8, complete: false });
  });

  it("reports complete:false when a page starts later than asked (retention raced the read)", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    feed.nextRead = async () => feed.log.slice(3, 7);
    const member = new Member();
    fanout.join("#", 1, member);
    await settleMany();
    expect(member.replayed).toEqual([3, 4, 5, 6, 7]);
    expect(member.live?.replay).toEqual({ from: 1, to: 8, complete: false });
  });

  it("moves on when an empty page is explained by retention having moved past the cursor", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    feed.nextRead = async () => {
      feed.first = 6;
      return [];
    };
    const member = new Member();
    fanout.join("#", 1, member);
    await settleMany();
    expect(member.endedWith).toBeNull();
    expect(member.replayed).toEqual([6, 7]);
    expect(member.live?.replay).toEqual({ from: 1, to: 8, complete: false });
  });

  it.each([
    ["at", 2],
    ["after", 4],
  ])(
    "ends the member when history below the head reads as empty %s the oldest retained offset",
    async (_, from) => {
      const { feed, fanout } = setup();
      feed.fill(8);
      feed.first = 2;
      feed.nextRead = async () => [];
      const member = new Member();
      fanout.join("#", from, member);
      await settleMany();
      expect(member.live).toBeNull();
      expect(member.endedWith?.reason).toBe("INTERNAL");
      expect(member.endedWith?.message).toBe("Topic history is unreadable.");
    },
  );

  it("ends the member with the read's error when history cannot be read", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    feed.nextRead = () => Promise.reject(new AvisoError("STORE_UNAVAILABLE"));
    const member = new Member();
    fanout.join("#", 1, member);
    await settleMany();
    expect(member.live).toBeNull();
    expect(member.endedWith?.reason).toBe("STORE_UNAVAILABLE");
  });

  it("does not start a replay for a member that left before it began", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    const member = new Member();
    fanout.join("#", 1, member);
    member.left = true;
    await settleMany();
    expect(feed.reads).toEqual([]);
    expect(member.live).toBeNull();
  });

  it("stops a replay whose member leaves while a page is being read", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    const member = new Member();
    feed.nextRead = async (from, limit) => {
      member.left = true;
      return feed.log.slice(from, from + limit);
    };
    fanout.join("#", 1, member);
    await settleMany();
    expect(member.replayed).toEqual([]);
    expect(member.live).toBeNull();
    expect(feed.reads).toHaveLength(1);
  });

  it("stops a replay when the feed ends during it", async () => {
    const { feed, fanout } = setup();
    feed.fill(8);
    const member = new Member();
    feed.nextRead = async (from, limit) => {
      feed.end(new AvisoError("TOPIC_NOT_FOUND"));
      return feed.log.slice(from, from + limit);
    };
    fanout.join("#", 0, member);
    await settleMany();
    expect(member.live).toBeNull();
    expect(feed.reads).toHaveLength(1);
  });

  it("replays at the reader's pace: the next page waits for the previous send", async () => {
    const { feed, fanout } = setup(2);
    feed.fill(6);
    let release: () => void = () => {};
    const member = new Member();
    member.sendReplay = (messages) => {
      member.replayPages.push(messages.map((m) => m.offset));
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    };
    fanout.join("#", 0 as StartPosition, member);
    await settleMany();
    expect(member.replayPages).toEqual([[0, 1]]);
    release();
    await settleMany();
    expect(member.replayPages).toEqual([
      [0, 1],
      [2, 3],
    ]);
  });
});
