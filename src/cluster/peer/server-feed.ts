import { create } from "@bufbuild/protobuf";
import type { handleServerStreamingCall, ServerWritableStream } from "@grpc/grpc-js";
import type { ServingNodes } from "../../app/serving-nodes.ts";
import type { TopicFeed } from "../../broker/topic/topic-ports.ts";
import type { TopicMessage } from "../../broker/types.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { type FeedRequest, type FeedResponse, FeedResponseSchema } from "./gen/aviso/peer/v1/peer_pb.ts";
import { chunksByBytes, errorToWire, topicMessageToWire } from "./peer-codec.ts";
import { MAX_REPLY_BYTES } from "./peer-definition.ts";
import { toServiceError } from "./peer-status.ts";
import type { ReportInternal } from "./server-unary.ts";

type Call = ServerWritableStream<FeedRequest, FeedResponse>;

/** History page read from the serving node's log per batch event while catching up. */
const HISTORY_PAGE = 500;
/** How often a quiet feed checks whether retention moved firstOffset. */
const HEAD_CHECK_MS = 1000;
/**
 * Events a peer may leave unread before its feed is ended with
 * OWNER_UNAVAILABLE: a live topic cannot wait for a slow reader, and the
 * reader resumes from its offset on a new feed instead of the serving node holding
 * an unbounded backlog.
 */
const MAX_QUEUED_EVENTS = 10_000;

export interface FeedOptions {
  maxQueuedEvents?: number;
}

/** Serves the Feed stream: `head`, history from from_offset up to that head, then live batches. */
export function feedHandler(
  servingNodes: ServingNodes,
  reportInternal: ReportInternal,
  openStreams: Set<(reason: AvisoError) => void>,
  options: FeedOptions = {},
): handleServerStreamingCall<FeedRequest, FeedResponse> {
  const maxQueued = options.maxQueuedEvents ?? MAX_QUEUED_EVENTS;
  return (call) => {
    const session = new FeedSession(call, reportInternal, maxQueued);
    const end = (reason: AvisoError) => session.end(reason);
    openStreams.add(end);
    session.onStop(() => openStreams.delete(end));
    void session.run(servingNodes);
  };
}

class FeedSession {
  private done = false;
  private readonly cleanups: Array<() => void> = [];
  private sentFirstOffset = -1;

  constructor(
    private readonly call: Call,
    private readonly reportInternal: ReportInternal,
    private readonly maxQueued: number,
  ) {
    call.on("cancelled", () => this.stop());
    call.on("error", () => this.stop());
  }

  async run(servingNodes: ServingNodes): Promise<void> {
    let feed: TopicFeed;
    try {
      feed = await servingNodes.topics.feed(this.call.request.topic);
    } catch (error) {
      return this.fail(error);
    }
    if (this.done) return;
    // Listen BEFORE taking the head: every batch committed from here on is
    // either below the head (read as history) or reaches the listener.
    let buffered: TopicMessage[][] | null = [];
    this.cleanups.push(
      feed.onCommitted((messages) => {
        if (buffered !== null) buffered.push([...messages]);
        else this.sendBatch(feed, messages);
      }),
      feed.onEnded((reason) => this.end(reason)),
    );
    const head = feed.nextOffset();
    const requested = this.call.request.fromOffset;
    const from = requested === undefined ? head : Number(requested);
    if (from > head) {
      return this.fail(
        new AvisoError("OFFSET_OUT_OF_RANGE", `Offset ${from} is beyond the next offset ${head}.`, {
          details: { nextOffset: head },
        }),
      );
    }
    this.sendHead(feed, head);
    try {
      await this.sendHistory(feed, from, head);
    } catch (error) {
      return this.fail(error);
    }
    if (this.done) return;
    const pending = buffered;
    buffered = null;
    for (const messages of pending) this.sendBatch(feed, messages);
    const timer = setInterval(() => this.sendHeadIfMoved(feed), HEAD_CHECK_MS);
    timer.unref();
    this.cleanups.push(() => clearInterval(timer));
  }

  /** Committed messages in [from, head), page by page, waiting for the peer to read each. */
  private async sendHistory(feed: TopicFeed, from: number, head: number): Promise<void> {
    let cursor = from;
    while (cursor < head && !this.done) {
      const page = await feed.read(cursor, Math.min(HISTORY_PAGE, head - cursor));
      if (this.done) return;
      const last = page.at(-1);
      if (last === undefined) {
        // Retention moved past the cursor while we read: skip to what is left.
        if (feed.firstOffset() <= cursor) throw new AvisoError("INTERNAL", "Topic history is unreadable.");
        cursor = feed.firstOffset();
        continue;
      }
      const inRange = last.offset < head ? page : page.filter((message) => message.offset < head);
      this.sendBatch(feed, inRange);
      cursor = last.offset + 1;
      await this.drained();
    }
  }

  private sendHead(feed: TopicFeed, nextOffset: number): void {
    this.sentFirstOffset = feed.firstOffset();
    this.write(
      create(FeedResponseSchema, {
        event: {
          case: "head",
          value: { nextOffset: BigInt(nextOffset), firstOffset: BigInt(this.sentFirstOffset) },
        },
      }),
    );
  }

  private sendHeadIfMoved(feed: TopicFeed): void {
    if (!this.done && feed.firstOffset() !== this.sentFirstOffset) this.sendHead(feed, feed.nextOffset());
  }

  private sendBatch(feed: TopicFeed, messages: readonly TopicMessage[]): void {
    if (this.done || messages.length === 0) return;
    const first = messages[0] as TopicMessage;
    // Retention moved (a gap in history, or a quiet trim): say so before the batch.
    if (feed.firstOffset() !== this.sentFirstOffset) this.sendHead(feed, first.offset);
    for (const chunk of chunksByBytes(messages, MAX_REPLY_BYTES)) {
      this.write(
        create(FeedResponseSchema, {
          event: { case: "batch", value: { messages: chunk.map(topicMessageToWire) } },
        }),
      );
    }
    if (this.call.writableLength > this.maxQueued) {
      this.end(new AvisoError("OWNER_UNAVAILABLE", "The feed fell too far behind; resume from its offset."));
    }
  }

  private drained(): Promise<void> {
    if (!this.call.writableNeedDrain || this.done) return Promise.resolve();
    return new Promise((resolve) => {
      const onDone = () => {
        this.call.off("drain", onDone);
        this.call.off("cancelled", onDone);
        resolve();
      };
      this.call.on("drain", onDone);
      this.call.on("cancelled", onDone);
    });
  }

  onStop(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  /** The topic's feed ended on the serving node (or the server is closing): tell the peer why, then end the stream. */
  end(reason: AvisoError): void {
    if (this.done) return;
    this.write(create(FeedResponseSchema, { event: { case: "ended", value: errorToWire(reason) } }));
    this.stop();
    this.call.end();
  }

  private fail(error: unknown): void {
    if (this.done) return;
    if (!(error instanceof AvisoError) || error.reason === "INTERNAL")
      this.reportInternal("peer feed", error);
    this.stop();
    this.call.emit("error", toServiceError(error));
  }

  private stop(): void {
    if (this.done) return;
    this.done = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }

  private write(event: FeedResponse): void {
    if (!this.done && !this.call.cancelled) this.call.write(event);
  }
}
