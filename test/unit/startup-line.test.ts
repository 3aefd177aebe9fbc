import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { helpText } from "../../src/config/help.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { configKeys } from "../../src/config/schema.ts";
import { startupLine } from "../../src/node/startup-line.ts";

const configWith = (env: Record<string, string>) => loadConfig({ argv: [], env });

describe("startupLine", () => {
  it("names where the node serves, its store file, its data dir and the docs", () => {
    const line = startupLine(configWith({}), "0.1.0");
    expect(line).toBe(
      `aviso 0.1.0: serving http://127.0.0.1:8080 (REST + WebSocket), store SQLite ${resolve("data/aviso.db")}, ` +
        `data dir ${resolve("data")}. Docs: http://127.0.0.1:8080/docs and docs/operations.md; settings: --help.`,
    );
  });

  it("masks a MySQL password and names the cluster and a port chosen at start", () => {
    // Cluster settings have cross-checks of their own; this only needs the four fields.
    const config = {
      ...configWith({}),
      store: "mysql://aviso:hunter2@db:3306/aviso",
      zk: "zk1:2181",
      port: 0,
      dataDir: "/var/lib/aviso",
    };
    const line = startupLine(config, "0.1.0");
    expect(line).not.toContain("hunter2");
    expect(line).toContain("store MySQL/MariaDB mysql://aviso:***@db:3306/aviso");
    expect(line).toContain("cluster via ZooKeeper zk1:2181");
    expect(line).toContain('on a free port (0; see the "node listening" log line)');
    expect(line).toContain("data dir /var/lib/aviso");
  });
});

describe("--help", () => {
  it("shows every setting with its flag, variable and default", () => {
    const help = helpText();
    for (const info of configKeys) {
      const shown =
        info.default === undefined ? "none" : info.default === "" ? '"" (empty)' : String(info.default);
      expect(help).toContain(`${info.flag} `);
      expect(help).toMatch(
        new RegExp(`${info.env}\\s+default: ${shown.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n`),
      );
    }
    expect(help).toContain("--port <integer>   AVISO_PORT   default: 8080");
  });
});
