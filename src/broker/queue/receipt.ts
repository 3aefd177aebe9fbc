/**
 * A receipt names one delivery: the owner's epoch, the message's sequence number
 * and the lease. It is opaque to clients; a receipt from an earlier delivery or
 * an earlier owner no longer matches anything and is reported stale.
 */
export interface ReceiptParts {
  epoch: number;
  seq: number;
  leaseId: number;
}

export function formatReceipt(parts: ReceiptParts): string {
  return `${parts.epoch.toString(36)}.${parts.seq.toString(36)}.${parts.leaseId.toString(36)}`;
}

const RECEIPT = /^[0-9a-z]{1,13}\.[0-9a-z]{1,13}\.[0-9a-z]{1,13}$/;

/** Parses a receipt, or returns undefined when it is not one Aviso could have issued. */
export function parseReceipt(receipt: string): ReceiptParts | undefined {
  if (!RECEIPT.test(receipt)) return undefined;
  const [epoch, seq, leaseId] = receipt.split(".").map((part) => Number.parseInt(part, 36)) as [
    number,
    number,
    number,
  ];
  if (!Number.isSafeInteger(epoch) || !Number.isSafeInteger(seq) || !Number.isSafeInteger(leaseId)) {
    return undefined;
  }
  return { epoch, seq, leaseId };
}

/** Parses a public message id (the decimal sequence number). */
export function parseMessageId(id: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const seq = Number(id);
  return Number.isSafeInteger(seq) ? seq : undefined;
}
