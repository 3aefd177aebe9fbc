import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type { ResourceKind } from "../broker/types.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import type { KeyPage } from "../store/key-page.ts";
import { mayList, notFoundReason, type Visible, withoutHiddenCreator } from "./access.ts";
import type { AppContext, Principal } from "./context.ts";

/**
 * Bounded listings (docs/protocol.md "Paging", docs/security.md S10): every
 * listing answers one page of at most `limit` items plus `next`, the cursor of
 * the following page (null when there is none).
 *
 * A listing hides what the caller may not see (S7) after the store read, so
 * a page may need several store reads to fill; one page reads at most
 * `SCAN_FACTOR × limit` rows and then answers short, with a `next` that
 * continues past the rows it read. That position can be the name of a
 * resource the caller may not see, so the cursor is sealed (AES-GCM under a
 * key derived from the token secret, padded to one length): a client can hand
 * it back, on any node of the cluster, but cannot read or forge it.
 */
export interface PageRequest {
  limit?: number | undefined;
  after?: string | undefined;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

/** Where a listing's rows come from: a keyset read in key order, the key of a row, and what the caller sees of it. */
export interface PageSource<Row, Item, Key> {
  read(page: KeyPage<Key>): Promise<Row[]>;
  keyOf(row: Row): Key;
  /** The item to list, or undefined when the caller may not see the row. */
  admit(row: Row): Promise<Item | undefined> | Item | undefined;
}

/** Store rows one page may read, per item asked for: bounds the work of a page that hides most rows. */
export const SCAN_FACTOR = 4;

/** Sealed cursor plaintext is padded to a multiple of this, so its length says nothing of the name inside. */
const PADDED_BYTES = 256;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class Pager {
  readonly #key: Uint8Array;
  readonly #maxItems: number;

  /** `tokenKey` is any key derived from the token secret (the receipt key): every node derives the same cursor key. */
  constructor(tokenKey: Uint8Array, maxItems: number) {
    this.#key = new Uint8Array(hkdfSync("sha256", tokenKey, new Uint8Array(0), "aviso list cursor v1", 32));
    this.#maxItems = maxItems;
  }

  /**
   * One page of `listing` (a label the cursor is bound to: a cursor of one
   * listing does not open in another).
   */
  async page<Row, Item, Key>(
    listing: string,
    request: PageRequest,
    source: PageSource<Row, Item, Key>,
  ): Promise<Page<Item>> {
    const limit = request.limit ?? this.#maxItems;
    if (!Number.isInteger(limit) || limit < 1 || limit > this.#maxItems) {
      throw new AvisoError("VALIDATION_FAILED", `limit must be an integer from 1 to ${this.#maxItems}.`, {
        details: { field: "limit", maximum: this.#maxItems },
      });
    }
    const budget = SCAN_FACTOR * limit;
    let cursor = request.after === undefined ? undefined : (this.#open(listing, request.after) as Key);
    const items: Item[] = [];
    let scanned = 0;
    // Each round reads at least one row past `cursor` or ends, and `scanned` never passes `budget`.
    for (;;) {
      const want = Math.min(limit - items.length, budget - scanned);
      const rows = await source.read(
        cursor === undefined ? { limit: want + 1 } : { after: cursor, limit: want + 1 },
      );
      for (const row of rows.slice(0, want)) {
        cursor = source.keyOf(row);
        scanned++;
        const item = await source.admit(row);
        if (item !== undefined) items.push(item);
      }
      if (rows.length <= want) return { items, next: null };
      if (items.length >= limit || scanned >= budget) return { items, next: this.#seal(listing, cursor) };
    }
  }

  #seal(listing: string, key: unknown): string {
    const json = Buffer.from(JSON.stringify(key));
    const padded = Buffer.alloc(Math.ceil((json.length + 1) / PADDED_BYTES) * PADDED_BYTES, 0x20);
    json.copy(padded);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(listing));
    const sealed = Buffer.concat([iv, cipher.update(padded), cipher.final(), cipher.getAuthTag()]);
    return sealed.toString("base64url");
  }

  #open(listing: string, cursor: string): unknown {
    const sealed = Buffer.from(cursor, "base64url");
    if (sealed.length >= IV_BYTES + PADDED_BYTES + TAG_BYTES) {
      try {
        const decipher = createDecipheriv("aes-256-gcm", this.#key, sealed.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(listing));
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        const plain = Buffer.concat([
          decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return JSON.parse(plain.toString());
      } catch {
        // Falls through to the refusal: a cursor that does not open is bad input, never INTERNAL.
      }
    }
    throw new AvisoError(
      "VALIDATION_FAILED",
      "after is not a cursor this listing handed out: pass the `next` of the previous page.",
      { details: { field: "after" } },
    );
  }
}

const pagers = new WeakMap<object, Pager>();

/** The node's pager: one per app context, its key derived once. */
export function pagerOf(ctx: Pick<AppContext, "receiptKey" | "config">): Pager {
  let pager = pagers.get(ctx);
  if (pager === undefined) {
    pager = new Pager(ctx.receiptKey, ctx.config.maxListItems);
    pagers.set(ctx, pager);
  }
  return pager;
}

/** A queue or topic definition as a listing reads it. */
interface ListedDefinition {
  name: string;
  creator: string;
  private: boolean;
}

/**
 * One page of the queues or topics the caller may see (S7), by name: a
 * private one is read with its grants and listed only to whom it shows;
 * hidden rows count toward the page's scan budget.
 */
export function visibleResourcePage<D extends ListedDefinition, V extends { creator: string }>(
  ctx: AppContext,
  principal: Principal,
  kind: ResourceKind,
  request: PageRequest,
  read: (page: KeyPage) => Promise<D[]>,
  view: (definition: D) => Promise<V>,
): Promise<Page<Visible<V>>> {
  return pagerOf(ctx).page(kind === "queue" ? "queues" : "topics", request, {
    read,
    keyOf: (definition: D) => definition.name,
    admit: async (definition) => {
      const grants = definition.private ? await ctx.store.listGrants(kind, definition.name) : [];
      if (!mayList(principal, kind, { definition, grants })) return undefined;
      let shown: V;
      try {
        shown = await view(definition);
      } catch (error) {
        // Deleted since the page's read: it is no longer there to list, and the rest still is.
        if (error instanceof AvisoError && error.reason === notFoundReason(kind)) return undefined;
        throw error;
      }
      return withoutHiddenCreator(principal, shown);
    },
  });
}
