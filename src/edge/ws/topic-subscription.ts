import type { LiveSubscriber } from "../../app/topics.ts";
import type { FanoutMember, ReplayInfo, StartPosition } from "../../broker/topic/topic-fanout.ts";
import type { TopicMessage } from "../../broker/types.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { topicMessageFields } from "../wire.ts";
import { endedFrame, okFrame, type RequestIdValue, replayedFrame } from "./frames.ts";
import type { SessionSubscription, WsSession } from "./session.ts";
import type { GroupMember } from "./topic-channels.ts";

/**
 * A live subscription to a topic on one socket. Its id is its group's key,
 * which is also the uWS channel it joins once live; replayed history is sent
 * to this socket alone before that, then a `replayed` frame.
 */
export class TopicSubscription implements SessionSubscription, FanoutMember, GroupMember, LiveSubscriber {
  readonly kind = "topic";
  private key: string | null = null;
  private live = false;
  private readonly closeHooks: (() => void)[] = [];
  left = false;

  constructor(
    private readonly session: WsSession,
    readonly topic: string,
    private readonly requestId: RequestIdValue,
  ) {}

  /** LiveSubscriber: joins the node's fan-out of the topic. */
  async join(topic: string, pattern: string, from: StartPosition): Promise<void> {
    await this.session.deps.channels.join(topic, pattern, from, this);
  }

  get active(): boolean {
    return !this.left && this.session.isOpen;
  }

  get id(): string {
    if (this.key === null) throw new AvisoError("INTERNAL", "Topic subscription used before it joined.");
    return this.key;
  }

  joined(groupKey: string, startOffset: number): void {
    if (this.session.hasSubscription(groupKey)) {
      throw new AvisoError(
        "SUBSCRIPTION_ID_IN_USE",
        `This socket already subscribes to "${this.topic}" with that pattern (sub ${groupKey}).`,
        { details: { sub: groupKey } },
      );
    }
    this.key = groupKey;
    this.session.addSubscription(this);
    // Sent here, synchronously inside join, so it precedes every message of this subscription.
    this.session.send(okFrame(this.requestId, { sub: groupKey, from: startOffset }));
  }

  async sendReplay(messages: readonly TopicMessage[]): Promise<void> {
    if (this.left) return;
    const prefix = `{"op":"message","sub":${JSON.stringify(this.id)},"topic":${JSON.stringify(this.topic)},`;
    const frames = messages.map((message) => `${prefix}${topicMessageFields(message)}}`);
    this.session.deps.metrics.messagesDelivered.inc({ kind: "topic" }, messages.length);
    for (let sent = 0; ; ) {
      sent = this.session.sendWhileWritable(frames, sent);
      if (sent >= frames.length || this.left || !this.session.isOpen) return;
      await this.session.waitWritable();
    }
  }

  goLive(groupKey: string, replay: ReplayInfo | null): void {
    if (this.left) return;
    this.live = true;
    this.session.socket.subscribe(groupKey);
    // Written now, not with the turn's replies: from here uWS pub/sub writes live messages to the
    // socket directly, and they must follow the subscription's `ok` and `replayed`.
    this.session.sendMany(replay === null ? [] : [replayedFrame(groupKey, replay)]);
  }

  /** The replay failed. */
  end(reason: AvisoError): void {
    if (this.left) return;
    this.close();
    this.session.forgetSubscription(this.id);
    this.session.send(endedFrame(this.id, reason));
  }

  checkBackpressure(): void {
    if (!this.left) this.session.checkBackpressure();
  }

  /** The topic went away (deleted, or its feed ended). */
  groupEnded(reason: AvisoError): void {
    this.end(reason);
  }

  /** Runs `hook` when the subscription closes (at once if it already has). */
  onClose(hook: () => void): void {
    if (this.left) hook();
    else this.closeHooks.push(hook);
  }

  close(): void {
    if (this.left || this.key === null) return;
    this.left = true;
    for (const hook of this.closeHooks.splice(0)) hook();
    if (this.live) this.session.socket.unsubscribe(this.key);
    void this.session.deps.channels.leave(this.topic, this.key, this).catch(() => {});
  }
}
