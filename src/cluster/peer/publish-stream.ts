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
import { ownerUnavailable } from "./peer-status.ts";

interface Waiting {
  resolve(results: PublishResult[]): void;
  reject(error: AvisoError): void;
}

interface OpenStream {
  call: ClientDuplexStream<PublishRequest, PublishResponse>;
  waiting: Map<bigint, Waiting>;
}

/**
 * The client end of the Publish stream to one peer, opened on first use and
 * again after it breaks. Batches go out in call order and are answered by
 * id. When a stream breaks, only the batches sent on it fail (their outcome
 * is unknown, as with any call cut in flight); the next batch opens a new one.
 * A batch not answered within the channel's call timeout fails the same way.
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
    return new Promise((resolve, reject) => {
      // The same deadline a unary call has: an owner that never answers fails the batch, not the caller.
      const timer = setTimeout(() => {
        if (!stream.waiting.delete(batchId)) return;
        reject(
          ownerUnavailable(
            this.channel.peerUrl,
            `no answer to a publish in ${this.channel.callTimeoutMs} ms`,
          ),
        );
      }, this.channel.callTimeoutMs);
      stream.waiting.set(batchId, {
        resolve: (results) => {
          clearTimeout(timer);
          resolve(results);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      stream.call.write(create(PublishRequestSchema, { batchId, entries }));
    });
  }

  private open(): OpenStream {
    const stream: OpenStream = { call: this.channel.bidi("publish"), waiting: new Map() };
    this.current = stream;
    const broken = (error: AvisoError) => {
      if (this.current === stream) this.current = null;
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
      broken(ownerUnavailable(this.channel.peerUrl, "the peer ended the publish stream"));
    });
    return stream;
  }
}
