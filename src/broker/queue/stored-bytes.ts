import { AvisoError } from "../../errors/aviso-error.ts";

/**
 * Bytes of un-acked queue messages each user's publishes hold on this node,
 * across every queue it serves (maxStoredBytesPerUser, S10). A publish
 * reserves its bytes before it is written and they are released when the
 * message leaves (acked, expired, dead-lettered, dropped) or the queue stops
 * being served here. Per node: a queue that moves to another node starts
 * uncharged there, as do messages recovered from the store.
 */
export class StoredBytes {
  private readonly held = new Map<string, number>();

  constructor(private readonly limitBytes: number) {}

  heldBy(publisher: string): number {
    return this.held.get(publisher) ?? 0;
  }

  /** Reserves every publisher's bytes, or none: throws STORED_BYTES_EXCEEDED. */
  reserve(charges: ReadonlyMap<string, number>): void {
    for (const [publisher, bytes] of charges) {
      if (this.heldBy(publisher) + bytes > this.limitBytes) {
        throw new AvisoError(
          "STORED_BYTES_EXCEEDED",
          `A user's un-acked queue messages hold at most ${this.limitBytes} bytes on this node; publish again after consumers ack.`,
          { details: { quota: "maxStoredBytesPerUser", limit: this.limitBytes } },
        );
      }
    }
    for (const [publisher, bytes] of charges) this.held.set(publisher, this.heldBy(publisher) + bytes);
  }

  release(publisher: string, bytes: number): void {
    const left = this.heldBy(publisher) - bytes;
    if (left <= 0) this.held.delete(publisher);
    else this.held.set(publisher, left);
  }
}

/** The bytes a stored message is charged: its UTF-8 payload and headers. */
export function storedBytesOf(message: { payload: string; headers: string | null }): number {
  return (
    Buffer.byteLength(message.payload) + (message.headers === null ? 0 : Buffer.byteLength(message.headers))
  );
}

interface Charge {
  publisher: string;
  bytes: number;
}

/** One queue's messages as charged to their publishers in a StoredBytes ledger (none: nothing is charged). */
export class QueueCharges {
  private readonly held = new Map<number, Charge>();

  constructor(private readonly ledger: StoredBytes | undefined) {}

  /** Reserves a batch's bytes per publisher (all or none); throws STORED_BYTES_EXCEEDED. */
  reserve(
    inputs: ReadonlyArray<{ publisher?: string; payload: string; headers: string | null }>,
  ): Array<Charge | undefined> {
    if (this.ledger === undefined) return [];
    const charges = inputs.map((input) =>
      input.publisher === undefined ? undefined : { publisher: input.publisher, bytes: storedBytesOf(input) },
    );
    const totals = new Map<string, number>();
    for (const charge of charges)
      if (charge !== undefined)
        totals.set(charge.publisher, (totals.get(charge.publisher) ?? 0) + charge.bytes);
    this.ledger.reserve(totals);
    return charges;
  }

  /** The batch was not admitted: its bytes go back. */
  cancel(charges: ReadonlyArray<Charge | undefined>): void {
    for (const charge of charges)
      if (charge !== undefined) this.ledger?.release(charge.publisher, charge.bytes);
  }

  /** The message `seq` is admitted and holds its charge until released. */
  hold(seq: number, charge: Charge | undefined): void {
    if (charge !== undefined) this.held.set(seq, charge);
  }

  /** The message left the queue. */
  release(seq: number): void {
    const charge = this.held.get(seq);
    if (charge === undefined) return;
    this.held.delete(seq);
    this.ledger?.release(charge.publisher, charge.bytes);
  }

  /** The queue stops being served here. */
  releaseAll(): void {
    for (const seq of [...this.held.keys()]) this.release(seq);
  }
}
