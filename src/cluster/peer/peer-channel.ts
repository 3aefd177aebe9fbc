import {
  type ChannelOptions,
  Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import type { AvisoError } from "../../errors/aviso-error.ts";
import {
  peerChannelOptions,
  peerServiceDefinition,
  type RequestOf,
  type ResponseOf,
  type UnaryPeerMethod,
} from "./peer-definition.ts";
import { fromServiceError, peerUnavailable } from "./peer-status.ts";
import type { PeerTls } from "./peer-types.ts";

export interface PeerChannelOptions {
  /** "host:port" of the peer's gRPC server. */
  peerUrl: string;
  clusterSecret: string;
  tls?: PeerTls & {
    /** Name the peer's certificate must carry, when it differs from the host in peerUrl. */
    serverName?: string;
  };
  /** Deadline of one unary call, on top of a receive's waitMs (default 30000). */
  callTimeoutMs?: number;
}

export interface UnaryOptions {
  /** Extra time the call may take beyond callTimeoutMs (a long poll's wait). */
  extraMs?: number;
  /** Cancels the call on the peer too; the promise then rejects with OWNER_UNAVAILABLE. */
  signal?: AbortSignal;
}

/**
 * One HTTP/2 connection to one peer, with the secret on every call and
 * failures turned into AvisoErrors. Every open call is tracked so close()
 * can cut them all: nothing keeps running against a peer we let go of.
 */
export class PeerChannel {
  readonly peerUrl: string;
  private readonly client: Client;
  private readonly metadata: Metadata;
  /** Deadline of one unary call, and of one batch on the Publish stream. */
  readonly callTimeoutMs: number;
  private readonly openCalls = new Set<{ cancel(): void }>();
  private readonly openStreams = new Set<(reason: AvisoError) => void>();
  private closedWith: AvisoError | null = null;

  constructor(options: PeerChannelOptions) {
    this.peerUrl = options.peerUrl;
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.metadata = new Metadata();
    this.metadata.set("authorization", `Bearer ${options.clusterSecret}`);
    const channelOptions: ChannelOptions = {
      ...peerChannelOptions,
      // A restarted peer is reached again within a second, not after grpc's default 2 min backoff cap.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
    };
    if (options.tls?.serverName !== undefined) {
      channelOptions["grpc.ssl_target_name_override"] = options.tls.serverName;
    }
    const channelCredentials =
      options.tls === undefined
        ? credentials.createInsecure()
        : credentials.createSsl(
            toBuffer(options.tls.ca),
            toBuffer(options.tls.key),
            toBuffer(options.tls.cert),
          );
    this.client = new Client(options.peerUrl, channelCredentials, channelOptions);
  }

  unary<M extends UnaryPeerMethod>(
    method: M,
    request: RequestOf<M>,
    options: UnaryOptions = {},
  ): Promise<ResponseOf<M>> {
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    const definition = peerServiceDefinition[method];
    const deadline = Date.now() + this.callTimeoutMs + (options.extraMs ?? 0);
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      const onAbort = () => call.cancel();
      const call: ClientUnaryCall = this.client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        this.metadata.clone(),
        { deadline },
        (error: ServiceError | null, response?: ResponseOf<M>) => {
          this.openCalls.delete(call);
          signal?.removeEventListener("abort", onAbort);
          if (error !== null) reject(this.closedWith ?? this.toError(error));
          else if (response === undefined) reject(peerUnavailable(this.peerUrl, "empty reply"));
          else resolve(response);
        },
      );
      this.openCalls.add(call);
      if (signal?.aborted === true) call.cancel();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Opens a Feed stream; the caller must listen for "error" and "end". */
  feed(request: RequestOf<"feed">): ClientReadableStream<ResponseOf<"feed">> {
    const definition = peerServiceDefinition.feed;
    const call = this.client.makeServerStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      request,
      this.metadata.clone(),
    );
    return this.track(call);
  }

  /** Opens a Publish or Consume stream; the caller must listen for "error" and "end". */
  bidi<M extends "publish" | "consume">(method: M): ClientDuplexStream<RequestOf<M>, ResponseOf<M>> {
    const definition = peerServiceDefinition[method];
    const call = this.client.makeBidiStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      this.metadata.clone(),
    );
    return this.track(call);
  }

  toError(error: ServiceError): AvisoError {
    return fromServiceError(error, this.peerUrl);
  }

  /** Why the channel was closed, or null while it is open. */
  get closedReason(): AvisoError | null {
    return this.closedWith;
  }

  /**
   * Registers how to end an open Feed or Consume with a reason of ours
   * (close()); returns the function to call once the stream is over.
   */
  registerStream(end: (reason: AvisoError) => void): () => void {
    this.openStreams.add(end);
    return () => this.openStreams.delete(end);
  }

  /**
   * Ends open streams with `reason` (their listeners are told), cancels every
   * call and closes the connection. Returns the reason the channel closed with.
   */
  close(reason: AvisoError = peerUnavailable(this.peerUrl, "peer client closed")): AvisoError {
    if (this.closedWith !== null) return this.closedWith;
    this.closedWith = reason;
    for (const end of [...this.openStreams]) end(reason);
    this.openStreams.clear();
    for (const call of [...this.openCalls]) call.cancel();
    this.openCalls.clear();
    this.client.close();
    return reason;
  }

  private track<C extends ClientReadableStream<unknown>>(call: C): C {
    if (this.closedWith !== null) {
      // Fail like any other broken stream, on a later tick, so callers handle one path.
      queueMicrotask(() => call.cancel());
      return call;
    }
    this.openCalls.add(call);
    call.once("status", () => this.openCalls.delete(call));
    return call;
  }
}

function toBuffer(pem: Buffer | string): Buffer {
  return typeof pem === "string" ? Buffer.from(pem) : pem;
}
