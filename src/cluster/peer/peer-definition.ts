import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { ChannelOptions, MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { PeerService } from "./gen/aviso/peer/v1/peer_pb.ts";

/**
 * The peer service as @grpc/grpc-js sees it: paths and codecs for every RPC,
 * built from the protobuf-es descriptor that `buf generate` produced. This
 * pairs grpc-js's transport (faster per call here, see docs/architecture.md)
 * with protobuf-es's generated types, so the .proto stays the one source.
 */

type PeerMethods = typeof PeerService.method;
export type PeerMethodName = keyof PeerMethods;
export type RequestOf<M extends PeerMethodName> = MessageShape<PeerMethods[M]["input"]>;
export type ResponseOf<M extends PeerMethodName> = MessageShape<PeerMethods[M]["output"]>;

export type UnaryPeerMethod = {
  [M in PeerMethodName]: PeerMethods[M]["methodKind"] extends "unary" ? M : never;
}[PeerMethodName];

export type PeerMethodDefinition<M extends PeerMethodName> = MethodDefinition<RequestOf<M>, ResponseOf<M>>;
export type PeerServiceDefinition = { [M in PeerMethodName]: PeerMethodDefinition<M> };

function serializer<Desc extends DescMessage>(schema: Desc): (value: MessageShape<Desc>) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, value);
    // A view, not a copy: grpc-js only reads the buffer.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<Desc extends DescMessage>(schema: Desc): (bytes: Buffer) => MessageShape<Desc> {
  return (bytes) => fromBinary(schema, bytes);
}

function definitionOf<M extends PeerMethodName>(name: M): PeerMethodDefinition<M> {
  const method = PeerService.method[name];
  // Widened: today's service has no client-streaming RPC, but the rule should not depend on that.
  const kind: string = method.methodKind;
  // The descriptor's schemas are typed per method; the casts only restate what the generated map says.
  const input = method.input as PeerMethods[M]["input"];
  const output = method.output as PeerMethods[M]["output"];
  return {
    path: `/${PeerService.typeName}/${method.name}`,
    originalName: name,
    requestStream: kind === "client_streaming" || kind === "bidi_streaming",
    responseStream: kind === "server_streaming" || kind === "bidi_streaming",
    requestSerialize: serializer(input) as (value: RequestOf<M>) => Buffer,
    requestDeserialize: deserializer(input) as (bytes: Buffer) => RequestOf<M>,
    responseSerialize: serializer(output) as (value: ResponseOf<M>) => Buffer,
    responseDeserialize: deserializer(output) as (bytes: Buffer) => ResponseOf<M>,
  };
}

export const peerServiceDefinition: PeerServiceDefinition = {
  publishBatch: definitionOf("publishBatch"),
  publish: definitionOf("publish"),
  receive: definitionOf("receive"),
  settle: definitionOf("settle"),
  stats: definitionOf("stats"),
  topicHead: definitionOf("topicHead"),
  readTopic: definitionOf("readTopic"),
  consume: definitionOf("consume"),
  feed: definitionOf("feed"),
  notify: definitionOf("notify"),
};

/** For grpc-js APIs that take the untyped form. */
export const untypedPeerServiceDefinition = peerServiceDefinition as unknown as ServiceDefinition;

/** Bigger than any batch the client builds, so a large publish is refused by Aviso's own limits first. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Topic messages per ReadTopic reply or Feed batch event are cut at about this many bytes. */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * Channel settings both ends share. Keepalive pings find a dead peer (host
 * gone, cable pulled) in ~15 s even when a stream is quiet, so consumers and
 * feeds on it end instead of hanging.
 */
export const peerChannelOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
} as const satisfies ChannelOptions;
