import { create } from "@bufbuild/protobuf";
import type { ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import type { TopicFeed } from "../../broker/topic/topic-ports.ts";
import type { TopicMessage } from "../../broker/types.ts";
import type { AvisoError } from "../../errors/aviso-error.ts";
import { FeedRequestSchema, type FeedResponse, ReadTopicRequestSchema } from "./gen/aviso/peer/v1/peer_pb.ts";
import type { PeerChannel } from "./peer-channel.ts";
import { errorFromWire, topicMessageFromWire } from "./peer-codec.ts";
import { peerUnavailable } from "./peer-status.ts";

/** A topic's committed log streamed from the node serving it (the Feed RPC). */
export interface RemoteTopicFeed extends TopicFeed {
  /** Why the feed ended, or null while it runs. */
  readonly endedWith: AvisoError | null;
  /** Stops the stream. Listeners are not told: the caller chose to stop. */
  close(): void;
}

/**
 * Opens a Feed and resolves once the serving node sent its head. Without
 * `fromOffset` the feed starts live at the serving node's head; with it, batches
 * from that offset (history, then live) arrive through onCommitted, and
 * nextOffset() grows with them. If retention already dropped part of it, the
 * feed starts at firstOffset(): compare the two to see the gap.
 */
export function openRemoteFeed(
  channel: PeerChannel,
  topic: string,
  fromOffset?: number,
): Promise<RemoteTopicFeed> {
  const call = channel.feed(
    create(FeedRequestSchema, {
      topic,
      fromOffset: fromOffset === undefined ? undefined : BigInt(fromOffset),
    }),
  );
  return new Promise((resolve, reject) => {
    new StreamedFeed(channel, call, topic, fromOffset, resolve, reject).listen();
  });
}

class StreamedFeed implements RemoteTopicFeed {
  private opened = false;
  private delivered = 0;
  private retainedFrom = 0;
  private closedByUs = false;
  private ended: AvisoError | null = null;
  private readonly committedListeners = new Set<(messages: readonly TopicMessage[]) => void>();
  private readonly endedListeners = new Set<(reason: AvisoError) => void>();
  private unregister: () => void = () => {};

  constructor(
    private readonly channel: PeerChannel,
    private readonly call: ClientReadableStream<FeedResponse>,
    readonly name: string,
    private readonly fromOffset: number | undefined,
    private readonly onOpen: (feed: RemoteTopicFeed) => void,
    private readonly failed: (error: AvisoError) => void,
  ) {}

  listen(): void {
    this.unregister = this.channel.registerStream((reason) => this.end(reason));
    this.call.on("data", (event: FeedResponse) => this.onEvent(event));
    this.call.on("error", (error: ServiceError) => this.end(this.channel.toError(error)));
    this.call.on("end", () => this.end(peerUnavailable(this.channel.peerUrl, "feed stream ended")));
  }

  get endedWith(): AvisoError | null {
    return this.ended;
  }

  nextOffset(): number {
    return this.delivered;
  }

  firstOffset(): number {
    return this.retainedFrom;
  }

  /** Reads from the serving node, never past what this feed has delivered (as a local engine never reads past its head). */
  async read(fromOffset: number, limit: number): Promise<TopicMessage[]> {
    const head = this.delivered;
    if (limit <= 0 || fromOffset >= head) return [];
    const response = await this.channel.unary(
      "readTopic",
      create(ReadTopicRequestSchema, {
        topic: this.name,
        fromOffset: BigInt(fromOffset),
        limit: Math.min(limit, head - Math.max(0, fromOffset)),
      }),
    );
    const messages = response.messages.map(topicMessageFromWire);
    return messages.at(-1) !== undefined && (messages.at(-1) as TopicMessage).offset >= head
      ? messages.filter((message) => message.offset < head)
      : messages;
  }

  onCommitted(listener: (messages: readonly TopicMessage[]) => void): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  /** A listener added after the feed ended is told on the next microtask, so no caller misses the end. */
  onEnded(listener: (reason: AvisoError) => void): () => void {
    const ended = this.ended;
    if (ended !== null) {
      let active = true;
      queueMicrotask(() => {
        if (active) listener(ended);
      });
      return () => {
        active = false;
      };
    }
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  close(): void {
    if (this.ended !== null || this.closedByUs) return;
    this.closedByUs = true;
    this.unregister();
    this.committedListeners.clear();
    this.endedListeners.clear();
    this.call.cancel();
  }

  private onEvent(event: FeedResponse): void {
    if (this.closedByUs || this.ended !== null) return;
    const body = event.event;
    switch (body.case) {
      case "head": {
        this.retainedFrom = Number(body.value.firstOffset);
        if (!this.opened) {
          this.opened = true;
          const head = Number(body.value.nextOffset);
          this.delivered =
            this.fromOffset === undefined ? head : Math.max(this.fromOffset, this.retainedFrom);
          // Hold the batches behind the head until the caller, resumed by this promise, has hooked
          // onCommitted: its continuation runs before setImmediate does.
          this.call.pause();
          this.onOpen(this);
          setImmediate(() => this.call.resume());
        }
        return;
      }
      case "batch": {
        const messages = body.value.messages.map(topicMessageFromWire);
        const last = messages.at(-1);
        if (last === undefined || last.offset < this.delivered) return;
        // The serving node sends each offset once; a resent one would break the listeners' order.
        const fresh =
          (messages[0] as TopicMessage).offset >= this.delivered
            ? messages
            : messages.filter((message) => message.offset >= this.delivered);
        this.delivered = last.offset + 1;
        for (const listener of this.committedListeners) listener(fresh);
        return;
      }
      case "ended":
        this.end(errorFromWire(body.value));
        return;
      case undefined:
        return;
    }
  }

  private end(reason: AvisoError): void {
    if (this.ended !== null || this.closedByUs) return;
    this.ended = reason;
    this.unregister();
    if (!this.opened) {
      this.failed(reason);
    } else {
      for (const listener of this.endedListeners) listener(reason);
    }
    this.committedListeners.clear();
    this.endedListeners.clear();
    this.call.cancel();
  }
}
