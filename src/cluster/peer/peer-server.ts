import { createHash, timingSafeEqual } from "node:crypto";
import {
  type handleBidiStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  Server,
  ServerCredentials,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { AvisoError } from "../../errors/aviso-error.ts";
import { logEvents } from "../../log/events.ts";
import type { Logger } from "../../log/logger.ts";
import { peerChannelOptions, untypedPeerServiceDefinition } from "./peer-definition.ts";
import { unauthenticatedError } from "./peer-status.ts";
import type { PeerHandler, PeerTls } from "./peer-types.ts";
import { consumeHandler } from "./server-consume.ts";
import { feedHandler } from "./server-feed.ts";
import { publishHandler } from "./server-publish.ts";
import { type ReportInternal, unaryHandlers } from "./server-unary.ts";

export interface PeerServerOptions {
  /** Address to bind; loopback unless the cluster spans hosts. */
  host: string;
  /** 0 = any free port (read it from the result). */
  port: number;
  /** Every call must carry `authorization: Bearer <clusterSecret>`. */
  clusterSecret: string;
  handler: PeerHandler;
  /** Mutual TLS: serve with `cert`/`key` and accept only clients whose certificate `ca` signed. */
  tls?: PeerTls;
  log?: Logger;
  /** How long close() lets unary calls in flight finish before cutting them (default 2000). */
  closeGraceMs?: number;
  /** Events a Feed may leave unread before it is ended (default 10000); see server-feed.ts. */
  feedMaxQueuedEvents?: number;
}

export interface RunningPeerServer {
  readonly port: number;
  /** Ends open Feed and Consume streams with SHUTTING_DOWN, answers Publish streams' batches in flight, lets unary calls finish, then stops. */
  close(): Promise<void>;
}

/** Starts the peer gRPC server (HTTP/2) and resolves once it listens. */
export async function startPeerServer(options: PeerServerOptions): Promise<RunningPeerServer> {
  const { log } = options;
  if (options.clusterSecret.length === 0)
    throw new Error("The peer server needs a non-empty cluster secret.");
  const reportInternal: ReportInternal = (context, err) => {
    if (log !== undefined) logEvents.unexpectedError(log, { context, err });
  };
  const streams = new Set<(reason: AvisoError) => void>();
  const guard = secretGuard(options.clusterSecret);
  const server = new Server(peerChannelOptions);
  const unary = unaryHandlers(options.handler, reportInternal);
  const implementation = {
    publishBatch: guard.unary(unary.publishBatch),
    receive: guard.unary(unary.receive),
    settle: guard.unary(unary.settle),
    stats: guard.unary(unary.stats),
    topicHead: guard.unary(unary.topicHead),
    readTopic: guard.unary(unary.readTopic),
    notify: guard.unary(unary.notify),
    publish: guard.stream(publishHandler(options.handler.servingNodes, reportInternal, streams)),
    consume: guard.stream(consumeHandler(options.handler.servingNodes, reportInternal, streams)),
    feed: guard.stream(
      feedHandler(options.handler.servingNodes, reportInternal, streams, {
        maxQueuedEvents: options.feedMaxQueuedEvents,
      }),
    ),
  };
  server.addService(untypedPeerServiceDefinition, implementation as unknown as UntypedServiceImplementation);

  const credentials =
    options.tls === undefined
      ? ServerCredentials.createInsecure()
      : ServerCredentials.createSsl(
          toBuffer(options.tls.ca),
          [{ cert_chain: toBuffer(options.tls.cert), private_key: toBuffer(options.tls.key) }],
          true,
        );
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${bracketed(options.host)}:${options.port}`, credentials, (error, bound) => {
      if (error !== null)
        reject(new Error(`Peer server cannot listen on ${options.host}:${options.port}: ${error.message}`));
      else resolve(bound);
    });
  });

  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const shuttingDown = new AvisoError("SHUTTING_DOWN", "The peer node is shutting down.");
        for (const end of [...streams]) end(shuttingDown);
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, options.closeGraceMs ?? 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}

/**
 * Refuses calls without the cluster secret. The comparison is on SHA-256
 * digests, so timingSafeEqual always compares equal lengths and the time
 * taken says nothing about the secret.
 */
function secretGuard(secret: string) {
  const expected = digest(secret);
  const authorized = (metadata: Metadata): boolean => {
    const value = metadata.get("authorization")[0];
    if (typeof value !== "string" || !value.startsWith("Bearer ")) return false;
    return timingSafeEqual(digest(value.slice("Bearer ".length)), expected);
  };
  return {
    unary<Req, Res>(handler: handleUnaryCall<Req, Res>): handleUnaryCall<Req, Res> {
      return (call, callback) => {
        if (authorized(call.metadata)) handler(call, callback);
        else callback(unauthenticatedError());
      };
    },
    stream<H extends handleServerStreamingCall<never, never> | handleBidiStreamingCall<never, never>>(
      handler: H,
    ): H {
      const guarded = (call: Parameters<H>[0]) => {
        if (authorized(call.metadata)) (handler as (call: Parameters<H>[0]) => void)(call);
        else call.emit("error", unauthenticatedError());
      };
      return guarded as H;
    },
  };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function toBuffer(pem: Buffer | string): Buffer {
  return typeof pem === "string" ? Buffer.from(pem) : pem;
}

/** IPv6 literals need brackets in a host:port target. */
function bracketed(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
