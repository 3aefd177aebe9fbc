import type { ServedTopics } from "../../app/serving-nodes.ts";
import {
  type FanoutMember,
  type LiveGroups,
  type StartPosition,
  TopicFanout,
} from "../../broker/topic/topic-fanout.ts";
import type { TopicMessage } from "../../broker/types.ts";
import type { AvisoError } from "../../errors/aviso-error.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { topicMessageFields } from "../wire.ts";

/** The uWS side of live groups: one pub/sub channel per group, named by the group key. */
export interface ChannelPublisher {
  publish(channel: string, frame: string): void;
  subscriberCount(channel: string): number;
}

/** A live subscription as the registry sees it: told when its group ends, asked to check its backlog. */
export interface GroupMember {
  groupEnded(reason: AvisoError): void;
  /** Frames were just published to its channel: close the socket now if it has fallen too far behind. */
  checkBackpressure(): void;
}

/**
 * The uWS pub/sub channels of this node's live topic subscriptions (one per
 * group of subscribers with the same pattern and position), over the broker's
 * per-topic TopicFanout. A topic gets a TopicFanout when its first
 * local subscriber arrives and loses it with its last one. Each committed
 * message is encoded once per group and published to the group's channel, so
 * uWS writes it to every subscribed socket without more JS work.
 */
export class TopicChannels implements LiveGroups {
  private readonly fanouts = new Map<string, Promise<TopicFanout>>();
  private readonly topicOfGroup = new Map<string, string>();
  private readonly membersOfGroup = new Map<string, Set<GroupMember>>();
  /** Bytes published to each group since its members' buffers were last looked at. */
  private readonly uncheckedBytes = new Map<string, number>();
  private nextGroup = 1;

  constructor(
    private readonly topics: ServedTopics,
    private readonly channels: ChannelPublisher,
    private readonly metrics: Metrics,
    /** Bytes published to a group between looks at its members' outgoing buffers. */
    private readonly backpressureCheckBytes: number,
  ) {}

  /** Joins a local subscriber; returns its group key (the subscription id it sees in frames). */
  async join(
    topic: string,
    pattern: string,
    from: StartPosition,
    member: FanoutMember & GroupMember,
  ): Promise<string> {
    for (;;) {
      const fanout = await this.fanoutOf(topic);
      if (fanout.finished) {
        if (this.fanouts.get(topic) !== undefined) this.fanouts.delete(topic);
        continue;
      }
      const groupKey = fanout.join(pattern, from, member);
      this.topicOfGroup.set(groupKey, topic);
      let members = this.membersOfGroup.get(groupKey);
      if (members === undefined) {
        members = new Set();
        this.membersOfGroup.set(groupKey, members);
      }
      members.add(member);
      return groupKey;
    }
  }

  async leave(topic: string, groupKey: string, member: GroupMember): Promise<void> {
    const members = this.membersOfGroup.get(groupKey);
    members?.delete(member);
    if (members !== undefined && members.size === 0) {
      this.membersOfGroup.delete(groupKey);
      this.topicOfGroup.delete(groupKey);
      this.uncheckedBytes.delete(groupKey);
    }
    const loading = this.fanouts.get(topic);
    if (loading === undefined) return;
    const fanout = await loading;
    fanout.leave(groupKey);
    if (fanout.memberCount === 0 && this.fanouts.get(topic) === loading) {
      fanout.detach();
      this.fanouts.delete(topic);
    }
  }

  publish(groupKey: string, messages: readonly TopicMessage[]): void {
    const topic = this.topicOfGroup.get(groupKey);
    if (topic === undefined) return;
    const prefix = `{"op":"message","sub":${JSON.stringify(groupKey)},"topic":${JSON.stringify(topic)},`;
    // uWS writes channel frames to the sockets without us seeing them, so look at the members' buffers
    // every backpressureCheckBytes published: a slow one must be closed with 4008 long before uWS's own
    // ceiling (maxBackpressure) drops its frames and cuts it off with no close code. The 250 ms sweep
    // alone is far too late for a fast publisher.
    let unchecked = this.uncheckedBytes.get(groupKey) ?? 0;
    for (const message of messages) {
      const frame = `${prefix}${topicMessageFields(message)}}`;
      this.channels.publish(groupKey, frame);
      unchecked += frame.length;
      if (unchecked >= this.backpressureCheckBytes) {
        this.checkMembers(groupKey);
        unchecked = 0;
      }
    }
    if (this.topicOfGroup.has(groupKey)) this.uncheckedBytes.set(groupKey, unchecked);
    this.metrics.messagesDelivered.inc(
      { kind: "topic" },
      messages.length * this.channels.subscriberCount(groupKey),
    );
  }

  end(groupKey: string, reason: AvisoError): void {
    const members = this.membersOfGroup.get(groupKey);
    this.membersOfGroup.delete(groupKey);
    this.topicOfGroup.delete(groupKey);
    this.uncheckedBytes.delete(groupKey);
    for (const member of members ?? []) member.groupEnded(reason);
  }

  /** A member closed as a slow consumer leaves its group while this loop runs, which a Set allows. */
  private checkMembers(groupKey: string): void {
    for (const member of this.membersOfGroup.get(groupKey) ?? []) member.checkBackpressure();
  }

  private fanoutOf(topic: string): Promise<TopicFanout> {
    let loading = this.fanouts.get(topic);
    if (loading === undefined) {
      loading = this.topics
        .feed(topic)
        .then((feed) => new TopicFanout(feed, this, () => `t${this.nextGroup++}`));
      this.fanouts.set(topic, loading);
      const created = loading;
      created.catch(() => {
        if (this.fanouts.get(topic) === created) this.fanouts.delete(topic);
      });
    }
    return loading;
  }
}
