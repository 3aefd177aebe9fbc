import { AvisoError } from "../../errors/aviso-error.ts";
import { compilePattern, type KeyMatcher } from "../pattern.ts";
import type { TopicMessage } from "../types.ts";
import type { TopicFeed } from "./topic-ports.ts";

export type StartPosition = "latest" | "earliest" | number;

/** How a replay ended: `complete` is false when retention had already dropped part of [from, to). */
export interface ReplayInfo {
  from: number;
  to: number;
  complete: boolean;
}

/** One live subscription on one connection, as the transport implements it. */
export interface FanoutMember {
  /**
   * Called synchronously inside join(), before any message, with the group key
   * the member's frames carry and the offset it starts at (for "latest", the
   * next offset: resuming from it later misses nothing). Throwing here cancels the join.
   */
  joined(groupKey: string, startOffset: number): void;
  /**
   * Messages from history, in offset order, before the member goes live. A
   * returned promise makes the replay wait (the transport is full), so a long
   * history flows at the reader's pace instead of piling up in memory.
   */
  sendReplay(messages: readonly TopicMessage[]): void | Promise<void>;
  /**
   * From now on the group's live messages reach this member. Called synchronously
   * at the switch, so nothing between history and live is missed or doubled.
   * `replay` is null when the member started at "latest".
   */
  goLive(groupKey: string, replay: ReplayInfo | null): void;
  /** The subscription cannot go on (topic deleted, history unreadable). */
  end(reason: AvisoError): void;
  /** True once the member has left; a replay in progress stops. */
  readonly left: boolean;
}

/** The transport's live channels: one per (topic, pattern), every member gets each message once. */
export interface LiveGroups {
  publish(groupKey: string, messages: readonly TopicMessage[]): void;
  /** The feed ended: tell every member of the group why and drop them. */
  end(groupKey: string, reason: AvisoError): void;
}

interface Group {
  key: string;
  matches: KeyMatcher;
  members: number;
}

/**
 * Fans a topic's committed messages out to the subscriptions on this node.
 * Subscriptions with the same pattern share a group, so each message is
 * matched and encoded once per pattern, not once per subscriber. A subscription
 * that starts in the past replays history page by page and joins its group
 * at the moment it has caught up.
 */
export class TopicFanout {
  private readonly groups = new Map<string, Group>();
  private readonly unsubscribeFeed: Array<() => void>;
  private endedWith: AvisoError | null = null;
  private detached = false;

  constructor(
    private readonly feed: TopicFeed,
    private readonly live: LiveGroups,
    private readonly newGroupKey: () => string,
    private readonly replayPageSize = 500,
  ) {
    this.unsubscribeFeed = [
      feed.onCommitted((messages) => this.deliverLive(messages)),
      feed.onEnded((reason) => this.end(reason)),
    ];
  }

  /** True once the feed ended or the fanout was detached; a new fanout must be made. */
  get finished(): boolean {
    return this.endedWith !== null || this.detached;
  }

  get memberCount(): number {
    let count = 0;
    for (const group of this.groups.values()) count += group.members;
    return count;
  }

  /**
   * Adds a member; returns its group key. Validation is synchronous (throws
   * OFFSET_OUT_OF_RANGE) so the caller can answer before any message is sent;
   * a replay starts on a later microtask.
   */
  join(pattern: string, from: StartPosition, member: FanoutMember): string {
    if (this.endedWith !== null) throw this.endedWith;
    const head = this.feed.nextOffset();
    if (typeof from === "number" && from > head) {
      throw new AvisoError(
        "OFFSET_OUT_OF_RANGE",
        `Offset ${from} is beyond topic "${this.feed.name}"'s next offset ${head}.`,
        { details: { nextOffset: head } },
      );
    }
    let group = this.groups.get(pattern);
    if (group === undefined) {
      group = { key: this.newGroupKey(), matches: compilePattern(pattern), members: 0 };
      this.groups.set(pattern, group);
    }
    const start = from === "latest" ? head : from === "earliest" ? this.feed.firstOffset() : from;
    try {
      member.joined(group.key, start);
    } catch (error) {
      if (group.members === 0) this.groups.delete(pattern);
      throw error;
    }
    group.members += 1;
    const { key, matches } = group;
    if (from === "latest") member.goLive(key, null);
    else queueMicrotask(() => void this.replay(key, start, matches, member));
    return key;
  }

  /** A member left (unsubscribe or socket closed). */
  leave(groupKey: string): void {
    for (const [pattern, group] of this.groups) {
      if (group.key !== groupKey) continue;
      group.members -= 1;
      if (group.members <= 0) this.groups.delete(pattern);
      return;
    }
  }

  /** Stops listening to the feed; members are not told (use when the node lets go of the topic). */
  detach(): void {
    this.detached = true;
    for (const unsubscribe of this.unsubscribeFeed) unsubscribe();
  }

  private end(reason: AvisoError): void {
    if (this.endedWith !== null) return;
    this.endedWith = reason;
    for (const group of this.groups.values()) this.live.end(group.key, reason);
    this.groups.clear();
    this.detach();
  }

  private deliverLive(messages: readonly TopicMessage[]): void {
    for (const group of this.groups.values()) {
      const matched = messages.filter((message) => group.matches(message.key));
      if (matched.length > 0) this.live.publish(group.key, matched);
    }
  }

  private async replay(
    groupKey: string,
    requested: number,
    matches: KeyMatcher,
    member: FanoutMember,
  ): Promise<void> {
    let cursor = requested;
    let complete = true;
    try {
      for (;;) {
        if (member.left || this.endedWith !== null) return;
        const first = this.feed.firstOffset();
        if (cursor < first) {
          complete = false;
          cursor = first;
        }
        const head = this.feed.nextOffset();
        if (cursor >= head) {
          member.goLive(groupKey, { from: requested, to: cursor, complete });
          return;
        }
        const page = await this.feed.read(cursor, Math.min(this.replayPageSize, head - cursor));
        if (member.left) return;
        const firstRead = page[0];
        if (firstRead === undefined) {
          // Nothing readable below the head: retention moved on while we read.
          if (this.feed.firstOffset() <= cursor)
            throw new AvisoError("INTERNAL", "Topic history is unreadable.");
          continue;
        }
        if (firstRead.offset > cursor) complete = false;
        const matched = page.filter((message) => matches(message.key));
        if (matched.length > 0) await member.sendReplay(matched);
        cursor = (page.at(-1) as TopicMessage).offset + 1;
      }
    } catch (error) {
      member.end(AvisoError.from(error));
    }
  }
}
