/**
 * A receipt names one delivery: the serving node's epoch, the message's sequence number,
 * the lease and a tag of the queue's name (epochs, seqs and leases start alike in
 * every queue). It is opaque to clients; a receipt from an earlier delivery, an
 * earlier serving node or another queue no longer matches anything and is reported stale.
 */
export interface ReceiptParts {
  epoch: number;
  seq: number;
  leaseId: number;
  queueTag: number;
}

export function formatReceipt(parts: ReceiptParts): string {
  return [parts.epoch, parts.seq, parts.leaseId, parts.queueTag].map((n) => n.toString(36)).join(".");
}

/** 32-bit FNV-1a of a queue name: tells one queue's receipts from another's. */
export function queueTagOf(queue: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < queue.length; i += 1) {
    hash ^= queue.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const RECEIPT = /^[0-9a-z]{1,13}\.[0-9a-z]{1,13}\.[0-9a-z]{1,13}\.[0-9a-z]{1,7}$/;

/** Parses a receipt, or returns undefined when it is not one Aviso could have issued. */
export function parseReceipt(receipt: string): ReceiptParts | undefined {
  if (!RECEIPT.test(receipt)) return undefined;
  const [epoch, seq, leaseId, queueTag] = receipt.split(".").map((part) => Number.parseInt(part, 36)) as [
    number,
    number,
    number,
    number,
  ];
  if (!Number.isSafeInteger(epoch) || !Number.isSafeInteger(seq) || !Number.isSafeInteger(leaseId)) {
    return undefined;
  }
  return { epoch, seq, leaseId, queueTag };
}

/** Parses a public message id (the decimal sequence number). */
export function parseMessageId(id: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const seq = Number(id);
  return Number.isSafeInteger(seq) ? seq : undefined;
}
