import { create } from "@bufbuild/protobuf";
import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import type { AvisoError } from "../../errors/aviso-error.ts";
import {
  type PublishEntry,
  type PublishRequest,
  PublishRequestSchema,
  type PublishResponse,
  type PublishResult,
} from "./gen/aviso/peer/v1/peer_pb.ts";
import type { PeerChannel } from "./peer-channel.ts";
import { peerUnavailable } from "./peer-status.ts";

interface Waiting {
  resolve(results: PublishResult[]): void;
  reject(error: AvisoError): void;
  /** performance.now() after which the batch fails unanswered. */
  deadline: number;
}

interface OpenStream {
  call: ClientDuplexStream<PublishRequest, PublishResponse>;
  /** Batches in flight by id, oldest first (a Map keeps insertion order). */
  waiting: Map<bigint, Waiting>;
  /** Armed while batches are in flight: fails those past their deadline. */
  deadlineTimer: NodeJS.Timeout | undefined;
}

/**
 * The client end of the Publish stream to one peer, opened on first use and
 * again after it breaks. Batches go out in call order and are answered by
 * id. When a stream breaks, only the batches sent on it fail (their outcome
 * is unknown, as with any call cut in flight); the next batch opens a new one.
 * A batch not answered within the channel's call timeout fails the same way
 * (one timer per stream, not per batch: batches are many and short-lived).
 */
export class PublishStream {
  private current: OpenStream | null = null;
  private nextBatchId = 1n;

  constructor(private readonly channel: PeerChannel) {}

  send(entries: PublishEntry[]): Promise<PublishResult[]> {
    const closed = this.channel.closedReason;
    if (closed !== null) return Promise.reject(closed);
    const stream = this.current ?? this.open();
    const batchId = this.nextBatchId++;
    const deadline = performance.now() + this.channel.callTimeoutMs;
    return new Promise((resolve, reject) => {
      stream.waiting.set(batchId, { resolve, reject, deadline });
      if (stream.deadlineTimer === undefined) this.armDeadline(stream, this.channel.callTimeoutMs);
      stream.call.write(create(PublishRequestSchema, { batchId, entries }));
    });
  }

  /** The same deadline a unary call has: a serving node that never answers fails the batch, not the caller. */
  private armDeadline(stream: OpenStream, delayMs: number): void {
    stream.deadlineTimer = setTimeout(() => {
      stream.deadlineTimer = undefined;
      const now = performance.now();
      for (const [batchId, waiting] of stream.waiting) {
        if (waiting.deadline > now) {
          this.armDeadline(stream, waiting.deadline - now);
          return;
        }
        stream.waiting.delete(batchId);
        waiting.reject(
          peerUnavailable(this.channel.peerUrl, `no answer to a publish in ${this.channel.callTimeoutMs} ms`),
        );
      }
    }, delayMs);
  }

  private open(): OpenStream {
    const stream: OpenStream = {
      call: this.channel.bidi("publish"),
      waiting: new Map(),
      deadlineTimer: undefined,
    };
    this.current = stream;
    const broken = (error: AvisoError) => {
      if (this.current === stream) this.current = null;
      clearTimeout(stream.deadlineTimer);
      stream.deadlineTimer = undefined;
      for (const waiting of stream.waiting.values()) waiting.reject(error);
      stream.waiting.clear();
    };
    stream.call.on("data", (response: PublishResponse) => {
      const waiting = stream.waiting.get(response.batchId);
      if (waiting === undefined) return;
      stream.waiting.delete(response.batchId);
      waiting.resolve(response.results);
    });
    stream.call.on("error", (error: ServiceError) => {
      broken(this.channel.closedReason ?? this.channel.toError(error));
    });
    stream.call.on("end", () => {
      broken(peerUnavailable(this.channel.peerUrl, "the peer ended the publish stream"));
    });
    return stream;
  }
}
