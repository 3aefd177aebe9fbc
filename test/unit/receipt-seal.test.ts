import { describe, expect, it } from "vitest";
import { deriveReceiptKey, openReceipt, sealReceipt } from "../../src/app/receipts.ts";

const secret = (text: string) => new TextEncoder().encode(text);

describe("sealed receipts (S5)", () => {
  const key = deriveReceiptKey(secret("a token secret of at least 32 chars"));
  const sealed = sealReceipt(key, "orders", "alice", "1.a.3.zz");

  it("open on any node holding the same token secret, to the raw receipt", () => {
    const sameSecretElsewhere = deriveReceiptKey(secret("a token secret of at least 32 chars"));
    expect(openReceipt(sameSecretElsewhere, "orders", "alice", sealed)).toBe("1.a.3.zz");
    expect(sealed).toMatch(/^1\.a\.3\.zz\.[A-Za-z0-9_-]{24}$/);
  });

  it("do not open for another user, another queue, another secret, or with any part changed", () => {
    expect(openReceipt(key, "orders", "bob", sealed)).toBeUndefined();
    expect(openReceipt(key, "orders2", "alice", sealed)).toBeUndefined();
    expect(
      openReceipt(deriveReceiptKey(secret("another secret of at least 32 chars")), "orders", "alice", sealed),
    ).toBeUndefined();
    for (const altered of [sealed.replace("1.a", "1.b"), `${sealed}x`, sealed.slice(0, -1), "1.a.3.zz", ""]) {
      expect(openReceipt(key, "orders", "alice", altered)).toBeUndefined();
    }
  });
});
