import { describe, expect, it } from "vitest";
import { formatUnlessNoValues } from "../../src/store/mysql/mysql-client.ts";

const connection = { config: { stringifyObjects: false, timezone: "local" } };

describe("MySQL queryFormat: text without values goes out as is", () => {
  it("leaves already-formatted text alone, question marks in its strings included", () => {
    const sql = "INSERT INTO t VALUES ('is it ? or ??', 1);\nCOMMIT";
    expect(formatUnlessNoValues.call(connection, sql, [])).toBe(sql);
    expect(formatUnlessNoValues.call(connection, sql, undefined)).toBe(sql);
  });

  it("formats and escapes values as mysql2 does", () => {
    expect(formatUnlessNoValues.call(connection, "SELECT ? , ?", ["it's", [1, 2]])).toBe(
      "SELECT 'it\\'s' , 1, 2",
    );
    expect(formatUnlessNoValues.call(connection, "SELECT * FROM t WHERE id = ?", 7)).toBe(
      "SELECT * FROM t WHERE id = 7",
    );
  });
});
