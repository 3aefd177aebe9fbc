import { createCipheriv, hkdfSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { AppContext, Principal } from "../../src/app/context.ts";
import {
  Pager,
  type PageSource,
  pagerOf,
  SCAN_FACTOR,
  visibleResourcePage,
} from "../../src/app/list-page.ts";
import type { Grant, ResourceKind } from "../../src/broker/types.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import type { KeyPage } from "../../src/store/key-page.ts";

const key = new Uint8Array(32).fill(7);

/** Rows "r000".."rNNN" in key order; counts the rows every read returns. */
function rows(count: number, visible: (name: string) => boolean) {
  const names = Array.from({ length: count }, (_, i) => `r${String(i).padStart(3, "0")}`);
  const source = {
    rowsRead: 0,
    read: async (page: KeyPage): Promise<string[]> => {
      const after = page.after;
      const found = names.filter((name) => after === undefined || name > after).slice(0, page.limit);
      source.rowsRead += found.length;
      return found;
    },
    keyOf: (name: string) => name,
    admit: (name: string) => (visible(name) ? name : undefined),
  };
  return source;
}

async function walk(pager: Pager, source: PageSource<string, string, string>, limit?: number) {
  const items: string[] = [];
  const sizes: number[] = [];
  let after: string | undefined;
  for (let page = 0; page < 100; page++) {
    const answer = await pager.page("test", { limit, after }, source);
    items.push(...answer.items);
    sizes.push(answer.items.length);
    if (answer.next === null) return { items, sizes };
    after = answer.next;
  }
  throw new Error("did not end");
}

describe("Pager", () => {
  it("lists every visible row once, in order, in pages of at most the limit", async () => {
    const source = rows(23, (name) => Number(name.slice(1)) % 3 !== 0);
    const { items, sizes } = await walk(new Pager(key, 5), source);
    expect(items).toEqual(
      Array.from({ length: 23 }, (_, i) => i)
        .filter((i) => i % 3 !== 0)
        .map((i) => `r${String(i).padStart(3, "0")}`),
    );
    for (const size of sizes) expect(size).toBeLessThanOrEqual(5);
  });

  it("reads at most SCAN_FACTOR × limit rows (+1 to look ahead) per page when every row is hidden", async () => {
    const source = rows(200, () => false);
    const pager = new Pager(key, 10);
    const first = await pager.page("test", { limit: 4 }, source);
    expect(first.items).toEqual([]);
    expect(first.next).toEqual(expect.any(String));
    expect(source.rowsRead).toBeLessThanOrEqual(SCAN_FACTOR * 4 + 4);
    const { items, sizes } = await walk(pager, source, 4);
    expect(items).toEqual([]);
    expect(sizes.length).toBe(Math.ceil(200 / (SCAN_FACTOR * 4)));
  });

  it("ends with next null exactly when no row is left", async () => {
    const pager = new Pager(key, 10);
    expect(
      (
        await pager.page(
          "test",
          { limit: 3 },
          rows(3, () => true),
        )
      ).next,
    ).toBeNull();
    expect(
      (
        await pager.page(
          "test",
          { limit: 3 },
          rows(4, () => true),
        )
      ).next,
    ).toEqual(expect.any(String));
  });

  it("refuses a limit over the maximum and a cursor of another listing or altered", async () => {
    const pager = new Pager(key, 10);
    const source = rows(30, () => true);
    await expect(pager.page("test", { limit: 11 }, source)).rejects.toMatchObject({
      reason: "VALIDATION_FAILED",
    });
    await expect(pager.page("test", { limit: 0 }, source)).rejects.toMatchObject({
      reason: "VALIDATION_FAILED",
    });
    const next = (await pager.page("test", { limit: 2 }, source)).next ?? "";
    await expect(pager.page("other", { after: next }, source)).rejects.toMatchObject({
      reason: "VALIDATION_FAILED",
    });
    const altered = `${next.slice(0, 20)}${next[20] === "A" ? "B" : "A"}${next.slice(21)}`;
    await expect(pager.page("test", { after: altered }, source)).rejects.toMatchObject({
      reason: "VALIDATION_FAILED",
    });
    await expect(
      new Pager(new Uint8Array(32), 10).page("test", { after: next }, source),
    ).rejects.toMatchObject({
      reason: "VALIDATION_FAILED",
    });
    expect((await pager.page("test", { after: next, limit: 1 }, source)).items).toEqual(["r002"]);
  });

  it("seals cursors to one length whatever the name", async () => {
    const pager = new Pager(key, 10);
    const short = await pager.page(
      "test",
      { limit: 1 },
      rows(3, () => true),
    );
    const long = await pager.page(
      "test",
      { limit: 1 },
      {
        read: async (page: KeyPage) => (page.after === undefined ? ["x".repeat(200), "y"] : []),
        keyOf: (name: string) => name,
        admit: (name: string) => name,
      },
    );
    expect(long.next?.length).toBe(short.next?.length);
  });
});

/**
 * A cursor sealed the way list-page.ts describes, written out here apart from
 * it: the position as JSON padded with spaces to 256 bytes, AES-256-GCM under
 * HKDF-SHA256(token key, "aviso list cursor v1"), the listing's label as
 * additional data, base64url of IV, ciphertext and tag.
 */
function sealedCursor(tokenKey: Uint8Array, listing: string, position: unknown): string {
  const cursorKey = new Uint8Array(
    hkdfSync("sha256", tokenKey, new Uint8Array(0), "aviso list cursor v1", 32),
  );
  const plain = Buffer.alloc(256, " ");
  plain.write(JSON.stringify(position));
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", cursorKey, iv);
  cipher.setAAD(Buffer.from(listing));
  return Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]).toString("base64url");
}

/** `source`, with every page it is asked to read recorded in `asked`. */
function recordingReads(source: ReturnType<typeof rows>) {
  const asked: KeyPage[] = [];
  const recording = {
    ...source,
    read: (page: KeyPage) => {
      asked.push(page);
      return source.read(page);
    },
  };
  return { asked, recording };
}

/** The AvisoError `promise` rejects with. */
async function refusal(promise: Promise<unknown>): Promise<AvisoError> {
  return promise.then(
    () => {
      throw new Error("expected a refusal");
    },
    (error: AvisoError) => error,
  );
}

describe("Pager limits and cursors", () => {
  it("takes the maximum as the limit when none is asked for", async () => {
    const everyRow = rows(10, () => true);
    const page = await new Pager(key, 4).page("test", {}, everyRow);
    expect(page.items).toEqual(["r000", "r001", "r002", "r003"]);
  });

  it("accepts the maximum itself and a limit of 1", async () => {
    const pager = new Pager(key, 4);
    const everyRow = rows(10, () => true);
    expect((await pager.page("test", { limit: 4 }, everyRow)).items).toHaveLength(4);
    expect((await pager.page("test", { limit: 1 }, everyRow)).items).toEqual(["r000"]);
  });

  it("refuses a limit that is not a whole number, naming the field and the maximum", async () => {
    const everyRow = rows(5, () => true);
    for (const limit of [2.5, Number.NaN, 11, 0, -1]) {
      const error = await refusal(new Pager(key, 10).page("test", { limit }, everyRow));
      expect(error.reason, String(limit)).toBe("VALIDATION_FAILED");
      expect(error.message).toBe("limit must be an integer from 1 to 10.");
      expect(error.details).toEqual({ field: "limit", maximum: 10 });
    }
  });

  it("refuses a cursor it did not hand out, naming the field, whatever its length", async () => {
    const pager = new Pager(key, 10);
    const everyRow = rows(5, () => true);
    for (const after of ["", "abc", "A".repeat(400)]) {
      const error = await refusal(pager.page("test", { after }, everyRow));
      expect(error.reason).toBe("VALIDATION_FAILED");
      expect(error.message).toBe(
        "after is not a cursor this listing handed out: pass the `next` of the previous page.",
      );
      expect(error.details).toEqual({ field: "after" });
    }
  });

  it("reads the first page from the start and the next from just after the cursor, one row past the limit", async () => {
    const source = rows(10, () => true);
    const { asked, recording } = recordingReads(source);
    const pager = new Pager(key, 10);
    const first = await pager.page("test", { limit: 3 }, recording);
    await pager.page("test", { limit: 3, after: first.next ?? "" }, recording);
    expect(asked).toEqual([{ limit: 4 }, { after: "r002", limit: 4 }]);
  });

  it("reads again for the rows it hid, asking only for what the page still lacks", async () => {
    const source = rows(20, (name) => name !== "r001" && name !== "r002");
    const { asked, recording } = recordingReads(source);
    const page = await new Pager(key, 10).page("test", { limit: 3 }, recording);
    expect(page.items).toEqual(["r000", "r003", "r004"]);
    expect(asked).toEqual([{ limit: 4 }, { after: "r002", limit: 3 }]);
    expect(page.next).toEqual(expect.any(String));
  });

  it("answers a short page with a cursor once the scan budget is spent, and the next page goes on from there", async () => {
    // Only every 10th row is visible: a page of 2 may read SCAN_FACTOR × 2 = 8 rows.
    const source = rows(40, (name) => Number(name.slice(1)) % 10 === 9);
    const pager = new Pager(key, 10);
    const { asked, recording } = recordingReads(source);
    const first = await pager.page("test", { limit: 2 }, recording);
    expect(first.items).toEqual([]);
    expect(asked).toEqual([
      { limit: 3 },
      { after: "r001", limit: 3 },
      { after: "r003", limit: 3 },
      { after: "r005", limit: 3 },
    ]);
    const second = await pager.page("test", { limit: 2, after: first.next ?? "" }, recording);
    expect(asked[4]).toEqual({ after: "r007", limit: 3 });
    expect(second.items).toEqual(["r009"]);
  });

  it("asks the last read of a page only for what is left of the scan budget", async () => {
    // limit 3: budget 12 rows. One row visible, then reads of 2 rows up to
    // 11 scanned, and a last read of the 1 row left of the budget.
    const { asked, recording } = recordingReads(rows(40, (name) => name === "r000"));
    const page = await new Pager(key, 10).page("test", { limit: 3 }, recording);
    expect(page.items).toEqual(["r000"]);
    expect(asked.map((read) => read.limit)).toEqual([4, 3, 3, 3, 3, 2]);
    expect(asked.at(-1)).toEqual({ after: "r010", limit: 2 });
  });

  it("ends with next null when the last rows were hidden", async () => {
    const firstOnly = rows(4, (name) => name === "r000");
    const page = await new Pager(key, 10).page("test", { limit: 2 }, firstOnly);
    expect(page).toEqual({ items: ["r000"], next: null });
  });

  it("opens a cursor sealed under the key derived from the token key, for the listing it names", async () => {
    const pager = new Pager(key, 10);
    const everyRow = rows(10, () => true);
    const after = sealedCursor(key, "test", "r006");
    expect((await pager.page("test", { after }, everyRow)).items).toEqual(["r007", "r008", "r009"]);
    await expect(pager.page("other", { after }, everyRow)).rejects.toMatchObject({
      reason: "VALIDATION_FAILED",
    });
  });

  it("pads a cursor so that keys up to 254 bytes of JSON give the same length, and opens any key", async () => {
    const pager = new Pager(key, 10);
    const lengths: number[] = [];
    for (const name of ["a", "b".repeat(252), "c".repeat(600)]) {
      const source = {
        read: async (page: KeyPage) =>
          [name, "zz"].filter((row) => page.after === undefined || row > page.after),
        keyOf: (row: string) => row,
        admit: (row: string) => row,
      };
      const first = await pager.page("test", { limit: 1 }, source);
      lengths.push(first.next?.length ?? 0);
      expect((await pager.page("test", { limit: 1, after: first.next ?? "" }, source)).items).toEqual(["zz"]);
    }
    expect(lengths[1]).toBe(lengths[0]);
    expect(lengths[2]).toBeGreaterThan(lengths[0] ?? 0);
  });
});

describe("pagerOf", () => {
  type PagerContext = Pick<AppContext, "receiptKey" | "config">;

  it("gives one pager per app context, its limit the context's maxListItems", async () => {
    const ctx = { receiptKey: key, config: { maxListItems: 3 } } as PagerContext;
    const other = { receiptKey: key, config: { maxListItems: 3 } } as PagerContext;
    expect(pagerOf(ctx)).toBe(pagerOf(ctx));
    expect(pagerOf(other)).not.toBe(pagerOf(ctx));
    const everyRow = rows(5, () => true);
    expect((await pagerOf(ctx).page("test", {}, everyRow)).items).toHaveLength(3);
  });
});

describe("visibleResourcePage", () => {
  interface Definition {
    name: string;
    creator: string;
    private: boolean;
  }
  const definitions: Definition[] = [
    { name: "a-public", creator: "carol", private: false },
    { name: "b-private-granted", creator: "carol", private: true },
    { name: "c-private-hidden", creator: "carol", private: true },
    { name: "d-own-private", creator: "alice", private: true },
  ];

  function context(grantReads: string[]): AppContext {
    return {
      receiptKey: key,
      config: { maxListItems: 10 },
      store: {
        listGrants: async (kind: ResourceKind, name: string): Promise<Grant[]> => {
          grantReads.push(`${kind}:${name}`);
          return name === "b-private-granted"
            ? [{ kind, resource: name, username: "alice", permissions: ["consume"] }]
            : [];
        },
      },
    } as unknown as AppContext;
  }
  const alice: Principal = { username: "alice", tokenExpiresAt: Number.MAX_SAFE_INTEGER, operator: false };
  const read = async (page: KeyPage) =>
    definitions.filter((d) => page.after === undefined || d.name > page.after).slice(0, page.limit);
  const view = async (d: Definition) => ({ name: d.name, creator: d.creator });

  it("lists what the caller may see, reading grants only of private ones, with creators shown only to the creator", async () => {
    const grantReads: string[] = [];
    const page = await visibleResourcePage(context(grantReads), alice, "queue", {}, read, view);
    expect(page).toEqual({
      items: [
        { name: "a-public" },
        { name: "b-private-granted" },
        { name: "d-own-private", creator: "alice" },
      ],
      next: null,
    });
    expect(grantReads).toEqual(["queue:b-private-granted", "queue:c-private-hidden", "queue:d-own-private"]);
  });

  it("leaves out a resource deleted between the page's read and its view, and fails on other errors", async () => {
    const deletedMeanwhile = async (d: Definition) => {
      if (d.name === "b-private-granted") throw new AvisoError("TOPIC_NOT_FOUND", "gone");
      return view(d);
    };
    const page = await visibleResourcePage(context([]), alice, "topic", {}, read, deletedMeanwhile);
    expect(page.items).toEqual([{ name: "a-public" }, { name: "d-own-private", creator: "alice" }]);
    // Another kind's not-found or any other failure is not a deletion of this one: it still fails the listing.
    const failing = async (d: Definition) => {
      if (d.name === "b-private-granted") throw new AvisoError("STORE_UNAVAILABLE", "down");
      return view(d);
    };
    await expect(visibleResourcePage(context([]), alice, "topic", {}, read, failing)).rejects.toMatchObject({
      reason: "STORE_UNAVAILABLE",
    });
    await expect(
      visibleResourcePage(context([]), alice, "queue", {}, read, deletedMeanwhile),
    ).rejects.toMatchObject({ reason: "TOPIC_NOT_FOUND" });
  });

  it("binds queue cursors to the listing `queues` and topic cursors to `topics`", async () => {
    const ctx = context([]);
    const queues = await visibleResourcePage(
      ctx,
      alice,
      "queue",
      { after: sealedCursor(key, "queues", "a-public") },
      read,
      view,
    );
    expect(queues.items[0]).toEqual({ name: "b-private-granted" });
    const topics = await visibleResourcePage(
      ctx,
      alice,
      "topic",
      { after: sealedCursor(key, "topics", "b-private-granted") },
      read,
      view,
    );
    expect(topics.items).toEqual([{ name: "d-own-private", creator: "alice" }]);
  });

  it("hands out cursors that continue the same listing and do not open in the other kind's", async () => {
    const ctx = context([]);
    const first = await visibleResourcePage(ctx, alice, "queue", { limit: 1 }, read, view);
    expect(first.items).toEqual([{ name: "a-public" }]);
    const after = first.next ?? "";
    const second = await visibleResourcePage(ctx, alice, "queue", { limit: 1, after }, read, view);
    expect(second.items).toEqual([{ name: "b-private-granted" }]);
    await expect(visibleResourcePage(ctx, alice, "topic", { after }, read, view)).rejects.toMatchObject({
      reason: "VALIDATION_FAILED",
    });
    const topicCursor = (await visibleResourcePage(ctx, alice, "topic", { limit: 1 }, read, view)).next ?? "";
    await expect(
      visibleResourcePage(ctx, alice, "queue", { after: topicCursor }, read, view),
    ).rejects.toMatchObject({
      reason: "VALIDATION_FAILED",
    });
  });
});
