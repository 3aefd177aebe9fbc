import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { httpStatusOf } from "../../src/errors/http-status.ts";
import { reasons, retryOf } from "../../src/errors/reasons.ts";
import { WsClose } from "../../src/errors/ws-close.ts";

const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");

interface Row {
  code: string;
  status: number;
  retry: string;
}

/** Rows of the reasons table: | `REASON` | `code` | status | `retry` or — | meaning | */
function documentedReasons(): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const match of doc.matchAll(/^\| `([A-Z_]+)` \| `([a-z_]+)` \| (\d{3}) \| (?:`([a-z-]+)`|—) \|/gm)) {
    rows.set(match[1] as string, {
      code: match[2] as string,
      status: Number(match[3]),
      retry: match[4] ?? "never",
    });
  }
  return rows;
}

describe("docs/errors.md", () => {
  it("documents every reason with its code, HTTP status and retry rule, and nothing else", () => {
    const documented = documentedReasons();
    const expected = new Map(
      Object.entries(reasons).map(([reason, { code }]) => [
        reason,
        { code, status: httpStatusOf[code], retry: retryOf(reason as keyof typeof reasons) },
      ]),
    );
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(expected));
  });

  it("documents every WebSocket close code Aviso uses", () => {
    for (const code of Object.values(WsClose)) expect(doc).toContain(`| ${code} |`);
  });
});
