/**
 * What crosses the wire in the hop-cost bench, agreed by both sides: the
 * transports that link two processes, gRPC's framing (1 byte 0 for
 * uncompressed + uint32 BE length + body, used by hand over tcp and h2), the
 * server's 40-byte answer, and the grpc-js service with identity serializers.
 */
import type * as grpc from "@grpc/grpc-js";

/** The transports that link a client and a server process (`wake` links nothing). */
export const LINK_TRANSPORTS = ["tcp", "h2", "grpc-js"] as const;
export type LinkTransport = (typeof LINK_TRANSPORTS)[number];

export const HOP_PATH = "/aviso.bench.HopCost/Hop";
export const ANSWER = Buffer.alloc(40, "a");
export const ANSWER_FRAME = batchOf(ANSWER, 1, 5);
const identity = (bytes: Buffer): Buffer => bytes;
export const hopService: grpc.ServiceDefinition = {
  hop: {
    path: HOP_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
export const hopMethod = hopService.hop as grpc.MethodDefinition<Buffer, Buffer>;

/** `count` copies of `payload` in one buffer, behind a frame header when `header` is 5. */
export function batchOf(payload: Buffer, count: number, header: 0 | 5): Buffer {
  const bodyBytes = payload.length * count;
  const batch = Buffer.allocUnsafe(header + bodyBytes);
  if (header === 5) {
    batch[0] = 0;
    batch.writeUInt32BE(bodyBytes, 1);
  }
  return batch.fill(payload, header);
}

/** Splits a byte stream into frames; counts the whole ones. */
export class FrameCounter {
  private pending: Buffer = Buffer.alloc(0);

  /** Takes the next chunk; returns how many frames it completed. */
  push(chunk: Buffer): number {
    const bytes = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    let frames = 0;
    while (bytes.length - offset >= 5) {
      const end = offset + 5 + bytes.readUInt32BE(offset + 1);
      if (end > bytes.length) break;
      offset = end;
      frames++;
    }
    this.pending = bytes.subarray(offset);
    return frames;
  }
}
