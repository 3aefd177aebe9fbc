import { create } from "@bufbuild/protobuf";
import { AvisoError } from "../../errors/aviso-error.ts";
import {
  PublishBatchRequestSchema,
  type PublishEntry,
  PublishEntrySchema,
  type PublishInput,
  type PublishResult,
  type ResourceKind,
} from "./gen/aviso/peer/v1/peer_pb.ts";
import type { RequestOf, ResponseOf } from "./peer-definition.ts";

/** Most entries in one PublishBatch call. */
const MAX_ENTRIES = 1000;
/** Payload bytes after which a call is full; one bigger entry still goes, alone. */
const MAX_BATCH_BYTES = 1024 * 1024;

interface PendingEntry {
  entry: PublishEntry;
  key: string;
  bytes: number;
  resolve(result: PublishResult): void;
  reject(error: unknown): void;
}

export type SendBatch = (request: RequestOf<"publishBatch">) => Promise<ResponseOf<"publishBatch">>;

/**
 * Group commit for the peer link: publishes made in the same turn of the
 * event loop go to the peer in one PublishBatch call (per-call overhead is
 * the cost that matters, see docs/architecture.md).
 *
 * Order: while a call holding entries for a destination is in flight, newer
 * entries for that destination wait and go together in the next call, so a
 * destination's publishes reach the owner in the order they were made (two
 * concurrent calls are not guaranteed to be handled in the order sent).
 * Different destinations never wait for each other.
 */
export class PublishBatcher {
  private pending: PendingEntry[] = [];
  private readonly inFlight = new Set<string>();
  private scheduled = false;

  constructor(
    private readonly send: SendBatch,
    private readonly closedError: () => AvisoError | null,
  ) {}

  publish(kind: ResourceKind, name: string, inputs: PublishInput[]): Promise<PublishResult> {
    const closed = this.closedError();
    if (closed !== null) return Promise.reject(closed);
    return new Promise((resolve, reject) => {
      let bytes = 0;
      for (const input of inputs) bytes += input.payloadJson.length + (input.headersJson?.length ?? 0);
      this.pending.push({
        entry: create(PublishEntrySchema, { kind, name, inputs }),
        key: `${kind}:${name}`,
        bytes,
        resolve,
        reject,
      });
      this.schedule();
    });
  }

  /** Fails everything not yet sent (calls in flight end on their own). */
  failPending(error: AvisoError): void {
    for (const pending of this.pending.splice(0)) pending.reject(error);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: publishes arriving from the I/O callbacks of this loop turn join too.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    for (let batch = this.takeBatch(); batch.length > 0; batch = this.takeBatch()) this.sendBatch(batch);
  }

  /** The next call's entries: oldest first, skipping destinations that must wait. */
  private takeBatch(): PendingEntry[] {
    const taken: PendingEntry[] = [];
    const kept: PendingEntry[] = [];
    const waiting = new Set(this.inFlight);
    let bytes = 0;
    for (const pending of this.pending) {
      const full =
        taken.length >= MAX_ENTRIES || (taken.length > 0 && bytes + pending.bytes > MAX_BATCH_BYTES);
      if (waiting.has(pending.key) || full) {
        // Everything later for this destination waits too, or order would break.
        waiting.add(pending.key);
        kept.push(pending);
        continue;
      }
      taken.push(pending);
      bytes += pending.bytes;
    }
    this.pending = kept;
    return taken;
  }

  private sendBatch(batch: PendingEntry[]): void {
    const keys = new Set(batch.map((pending) => pending.key));
    for (const key of keys) this.inFlight.add(key);
    const request = create(PublishBatchRequestSchema, { entries: batch.map((pending) => pending.entry) });
    this.send(request)
      .then(
        (response) => {
          batch.forEach((pending, i) => {
            const result = response.results[i];
            if (result === undefined)
              pending.reject(new AvisoError("INTERNAL", "PublishBatch answered fewer entries than sent."));
            else pending.resolve(result);
          });
        },
        (error: unknown) => {
          for (const pending of batch) pending.reject(error);
        },
      )
      .finally(() => {
        for (const key of keys) this.inFlight.delete(key);
        if (this.pending.length > 0) this.schedule();
      });
  }
}
