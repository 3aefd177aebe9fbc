import { describe, expect, it } from "vitest";
import { hostLabel, parseMysqlUrl, targetOf } from "../../src/store/mysql/mysql-url.ts";

describe("parseMysqlUrl", () => {
  it("parses a single-host URL as before: one host, decoded credentials, default port 3306", () => {
    expect(parseMysqlUrl("mysql://aviso:s%40cret@db.internal:3307/aviso")).toEqual({
      hosts: [{ host: "db.internal", port: 3307 }],
      user: "aviso",
      password: "s@cret",
      database: "aviso",
    });
    expect(parseMysqlUrl("mysql://aviso:pw@db.internal/aviso").hosts).toEqual([
      { host: "db.internal", port: 3306 },
    ]);
  });

  it("defaults an empty host to 127.0.0.1 and keeps a query string out of the database name", () => {
    expect(parseMysqlUrl("mysql:///aviso?ssl=1")).toMatchObject({
      hosts: [{ host: "127.0.0.1", port: 3306 }],
      database: "aviso",
    });
  });

  it("lists every host of a primary,replica URL in the order given, each with its own port", () => {
    const url = parseMysqlUrl("mysql://aviso:pw@10.0.0.1:3306,10.0.0.2:3307,db-3/aviso");
    expect(url.hosts).toEqual([
      { host: "10.0.0.1", port: 3306 },
      { host: "10.0.0.2", port: 3307 },
      { host: "db-3", port: 3306 },
    ]);
    expect(url).toMatchObject({ user: "aviso", password: "pw", database: "aviso" });
  });

  it("accepts bracketed IPv6 hosts in a list and hands mysql2 the bare address", () => {
    const url = parseMysqlUrl("mysql://u:p@[::1]:3306,[fd00::2]/db");
    expect(url.hosts).toEqual([
      { host: "::1", port: 3306 },
      { host: "fd00::2", port: 3306 },
    ]);
    expect(url.hosts.map(hostLabel)).toEqual(["[::1]:3306", "[fd00::2]:3306"]);
  });

  it("keeps an @ or , inside percent-encoded credentials out of the host list", () => {
    const url = parseMysqlUrl("mysql://a%2Cb:p%40ss%2Cword@h1:1,h2:2/db");
    expect(url).toMatchObject({ user: "a,b", password: "p@ss,word" });
    expect(url.hosts).toHaveLength(2);
  });

  it("builds per-host connection settings that share the credentials and database", () => {
    const url = parseMysqlUrl("mysql://u:p@h1:1,h2:2/db");
    expect(url.hosts.map((host) => targetOf(url, host))).toEqual([
      { host: "h1", port: 1, user: "u", password: "p", database: "db" },
      { host: "h2", port: 2, user: "u", password: "p", database: "db" },
    ]);
  });

  it.each([
    ["an empty host in the list", "mysql://u:p@h1:1,,h2:2/db", /empty host/],
    ["a trailing comma", "mysql://u:p@h1:1,/db", /empty host/],
    ["the same host twice", "mysql://u:p@h1:1,h1:1/db", /h1:1 twice/],
    ["a bad port in the list", "mysql://u:p@h1:1,h2:99999/db", /not a URL/],
    ["no database", "mysql://u:p@h1:1,h2:2", /one database/],
    ["another scheme", "postgres://u:p@h1:1,h2:2/db", /mysql:\/\//],
    ["no scheme at all", "h1:1,h2:2/db", /not a URL/],
  ])("rejects %s", (_, text, message) => {
    expect(() => parseMysqlUrl(text)).toThrow(message);
  });

  it("never repeats the password in its errors", () => {
    for (const text of [
      "mysql://u:hunter2@h1:1,h2:x/db",
      "mysql://u:hunter2@h1:1,h2:2",
      "mysql://u:hunter2@:1/db",
    ]) {
      expect(() => parseMysqlUrl(text)).toThrow();
      try {
        parseMysqlUrl(text);
      } catch (error) {
        expect(String(error)).not.toContain("hunter2");
      }
    }
  });
});
