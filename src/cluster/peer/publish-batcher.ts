import { create } from "@bufbuild/protobuf";
import { AvisoError } from "../../errors/aviso-error.ts";
import {
  type PublishEntry,
  PublishEntrySchema,
  type PublishInput,
  type PublishResult,
  type ResourceKind,
} from "./gen/aviso/peer/v1/peer_pb.ts";

/** Most entries in one PublishBatch call. */
const MAX_ENTRIES = 1000;
/** Payload bytes after which a call is full; one bigger entry still goes, alone. */
const MAX_BATCH_BYTES = 1024 * 1024;

interface PendingEntry {
  entry: PublishEntry;
  bytes: number;
  resolve(result: PublishResult): void;
  reject(error: unknown): void;
}

/** Sends one batch; batches must reach the serving node in the order they are sent (one Publish stream). */
export type SendBatch = (entries: PublishEntry[]) => Promise<PublishResult[]>;

/**
 * Group commit for the peer link: publishes made in the same turn of the
 * event loop go to the peer as one batch (per-message overhead on the link
 * is what this saves, see docs/architecture.md). Batches are not held back
 * while earlier ones are in flight: the Publish stream keeps them in order,
 * and the serving node starts each batch's publishes as it arrives, so a
 * destination's publishes reach it in the order they were made.
 */
export class PublishBatcher {
  private pending: PendingEntry[] = [];
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
        bytes,
        resolve,
        reject,
      });
      this.schedule();
    });
  }

  /** Fails everything not yet sent (batches in flight end on their own). */
  failPending(error: AvisoError): void {
    for (const pending of this.pending.splice(0)) pending.reject(error);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: publishes arriving from the I/O callbacks of this loop turn join too.
    setImmediate(() => {
      this.scheduled = false;
      while (this.pending.length > 0) this.sendBatch(this.takeBatch());
    });
  }

  /** The oldest entries, up to MAX_ENTRIES and MAX_BATCH_BYTES (at least one). */
  private takeBatch(): PendingEntry[] {
    let count = 0;
    let bytes = 0;
    for (const pending of this.pending) {
      if (count >= MAX_ENTRIES || (count > 0 && bytes + pending.bytes > MAX_BATCH_BYTES)) break;
      bytes += pending.bytes;
      count += 1;
    }
    return this.pending.splice(0, count);
  }

  private sendBatch(batch: PendingEntry[]): void {
    this.send(batch.map((pending) => pending.entry)).then(
      (results) => {
        batch.forEach((pending, i) => {
          const result = results[i];
          if (result === undefined)
            pending.reject(
              new AvisoError("INTERNAL", "The serving node answered fewer publish entries than sent."),
            );
          else pending.resolve(result);
        });
      },
      (error: unknown) => {
        for (const pending of batch) pending.reject(error);
      },
    );
  }
}
