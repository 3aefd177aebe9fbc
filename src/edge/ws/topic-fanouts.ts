import type { TopicOwners } from "../../app/owners.ts";
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

/** A live subscription as the registry sees it: told when its group ends. */
export interface GroupMember {
  groupEnded(reason: AvisoError): void;
}

/**
 * Every topic fan-out on this node. A topic gets a TopicFanout when its first
 * local subscriber arrives and loses it with its last one. Each committed
 * message is encoded once per group and published to the group's channel, so
 * uWS writes it to every subscribed socket without more JS work.
 */
export class TopicFanouts implements LiveGroups {
  private readonly fanouts = new Map<string, Promise<TopicFanout>>();
  private readonly topicOfGroup = new Map<string, string>();
  private readonly membersOfGroup = new Map<string, Set<GroupMember>>();
  private nextGroup = 1;

  constructor(
    private readonly topics: TopicOwners,
    private readonly channels: ChannelPublisher,
    private readonly metrics: Metrics,
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
    for (const message of messages)
      this.channels.publish(groupKey, `${prefix}${topicMessageFields(message)}}`);
    this.metrics.messagesDelivered.inc(
      { kind: "topic" },
      messages.length * this.channels.subscriberCount(groupKey),
    );
  }

  end(groupKey: string, reason: AvisoError): void {
    const members = this.membersOfGroup.get(groupKey);
    this.membersOfGroup.delete(groupKey);
    this.topicOfGroup.delete(groupKey);
    for (const member of members ?? []) member.groupEnded(reason);
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
