import { afterEach, describe, expect, it, vi } from "vitest";
import type { TopicMessage } from "../../src/broker/types.ts";
import { ResilientFeed } from "../../src/cluster/resilient-feed.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { FakeTopicFeed } from "../helpers/fake-topic-feed.ts";

const message = (offset: number): TopicMessage => ({
  offset,
  key: "k",
  payload: String(offset),
  headers: null,
  publishedAt: 0,
});

/** One owner's feed: starts at `next` (its first live or history offset), retained from `first`. */
class OwnerFeed extends FakeTopicFeed {
  constructor(
    private next: number,
    private readonly first = 0,
  ) {
    super("prices");
  }

  nextOffset(): number {
    return this.next;
  }
  firstOffset(): number {
    return this.first;
  }
  async read(): Promise<TopicMessage[]> {
    return [];
  }
  emit(offsets: number[]): void {
    this.next = Math.max(this.next, (offsets.at(-1) ?? -1) + 1);
    this.committed(offsets.map(message));
  }
}

async function followed(feeds: OwnerFeed[]) {
  const opened: Array<number | undefined> = [];
  const feed = await ResilientFeed.start("prices", async (fromOffset) => {
    opened.push(fromOffset);
    const next = feeds.shift();
    if (next === undefined) throw new AvisoError("OWNER_UNAVAILABLE");
    return next;
  });
  const seen: number[] = [];
  const endings: AvisoError[] = [];
  feed.onCommitted((messages) => seen.push(...messages.map((m) => m.offset)));
  feed.onEnded((reason) => endings.push(reason));
  return { feed, opened, seen, endings };
}

describe("ResilientFeed", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reopens on the new serving node from the next offset it has not passed on: one contiguous run", async () => {
    vi.useFakeTimers();
    const oldOwner = new OwnerFeed(0);
    const newOwner = new OwnerFeed(3);
    const { opened, seen, endings } = await followed([oldOwner, newOwner]);
    oldOwner.emit([0, 1, 2]);
    oldOwner.end(new AvisoError("OWNER_UNAVAILABLE"));
    await vi.advanceTimersByTimeAsync(250);
    newOwner.emit([3, 4]);
    expect(opened).toEqual([undefined, 3]);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(endings).toEqual([]);
  });

  it("ends with a transient reason naming the lost offsets when retention dropped them meanwhile", async () => {
    vi.useFakeTimers();
    const oldOwner = new OwnerFeed(0);
    const newOwner = new OwnerFeed(3, 7);
    const { seen, endings } = await followed([oldOwner, newOwner]);
    oldOwner.emit([0, 1, 2]);
    oldOwner.end(new AvisoError("OWNER_UNAVAILABLE"));
    await vi.advanceTimersByTimeAsync(250);
    newOwner.emit([7, 8]);
    expect(seen).toEqual([0, 1, 2]);
    expect(endings.map((reason) => reason.reason)).toEqual(["OWNER_UNAVAILABLE"]);
    expect(endings[0]?.message).toContain("offsets 3–6");
  });
});
