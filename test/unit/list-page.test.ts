import { describe, expect, it } from "vitest";
import { Pager, type PageSource, SCAN_FACTOR } from "../../src/app/list-page.ts";
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
