import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/api.ts";
import { childNodesPerTest } from "../helpers/aviso-node.ts";

/**
 * Issue 9, item 3: `npm start` builds src/ when it is stale and runs the
 * compiled JavaScript, with what tsc does not emit (migrations, the password
 * worker) beside it.
 */

const nodes = childNodesPerTest();

describe("npm start", () => {
  it("runs the node from dist/, which first says where it serves, then serves: migrations applied, passwords hashed", async () => {
    // A cold build takes ~10 s on two busy cores.
    const dataDir = await nodes.tempDir();
    const node = await nodes.spawn({ dataDir, entry: "npm start", startTimeoutMs: 120_000 });

    // After npm's own "> aviso@… start" banner, the node's first line is for a person.
    const nodeLines = node
      .output()
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("> "));
    expect(nodeLines[0]).toBe(
      `aviso 0.1.0: serving http://127.0.0.1 on a free port (0; see the "node listening" log line), ` +
        `store SQLite ${dataDir}/aviso.db, data dir ${dataDir}. Docs: /docs on that port and docs/operations.md; settings: --help.`,
    );

    const pid = /"pid":(\d+)/.exec(node.output())?.[1];
    expect(pid).toBeDefined();
    const commandLine = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    // The heap bound of docs/operations.md "Memory" is part of the command.
    expect(commandLine.slice(1, 3)).toEqual(["--max-old-space-size=512", "dist/main.js"]);
    expect(commandLine.join(" ")).not.toContain("tsx");

    const { api } = await newUser(node.url, "compiled");
    const me = await api.get("/v1/me");
    expect(me.status).toBe(200);
  });
});
