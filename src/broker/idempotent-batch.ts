import type { IdempotencyCache } from "./idempotency-cache.ts";
import type { IdempotencyRecord, ResourceKind } from "./types.ts";

/**
 * Splits a publish batch by idempotency key: inputs whose key was already
 * published (or is being published) reuse that result; the rest are fresh.
 * A key repeated inside one batch is published once.
 */
export interface IdempotentSplit<I, R> {
  /** Inputs to publish for real, in batch order. */
  fresh: I[];
  /** Assembles the batch's results once the fresh inputs' results are known (or failed). */
  assemble(freshResults: Promise<R[]>): Promise<R[]>;
}

export function splitByIdempotencyKey<I extends { idempotencyKey?: string }, R>(
  inputs: readonly I[],
  cache: IdempotencyCache<R>,
): IdempotentSplit<I, R> {
  const fresh: I[] = [];
  // For each input: a known result, or the index of the fresh input that produces it.
  const sources: Array<{ known: Promise<R> } | { freshIndex: number }> = [];
  const freshIndexByKey = new Map<string, number>();
  for (const input of inputs) {
    const key = input.idempotencyKey;
    if (key !== undefined) {
      const known = cache.get(key);
      if (known !== undefined) {
        sources.push({ known });
        continue;
      }
      const sameBatch = freshIndexByKey.get(key);
      if (sameBatch !== undefined) {
        sources.push({ freshIndex: sameBatch });
        continue;
      }
      freshIndexByKey.set(key, fresh.length);
    }
    sources.push({ freshIndex: fresh.length });
    fresh.push(input);
  }
  return {
    fresh,
    assemble(freshResults) {
      for (const [key, index] of freshIndexByKey) {
        cache.setPending(
          key,
          freshResults.then((results) => results[index] as R),
        );
      }
      return Promise.all(
        sources.map((source) =>
          "known" in source ? source.known : freshResults.then((results) => results[source.freshIndex] as R),
        ),
      );
    },
  };
}

/** The records that make keyed inputs de-duplicate for the window: input i produced results[i]. */
export function idempotencyRecords<R>(
  kind: ResourceKind,
  resource: string,
  inputs: ReadonlyArray<{ idempotencyKey?: string }>,
  results: readonly R[],
  expiresAt: number,
): IdempotencyRecord[] {
  const records: IdempotencyRecord[] = [];
  inputs.forEach((input, i) => {
    if (input.idempotencyKey === undefined) return;
    records.push({
      kind,
      resource,
      key: input.idempotencyKey,
      result: JSON.stringify(results[i]),
      expiresAt,
    });
  });
  return records;
}
