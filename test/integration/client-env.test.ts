import { readdir, readFile } from "node:fs/promises";
import { extname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { clientEnvNames } from "../../src/config/client-env.ts";
import { configKeys } from "../../src/config/schema.ts";
import { childNodesPerTest } from "../helpers/aviso-node.ts";

/**
 * Issue 9, item 2: every AVISO_* variable the repository mentions (docs,
 * clients, examples, benchmarks, deploy files, tests) is either a node setting
 * or a client variable the node ignores, so a shell that exported them all
 * still starts a node. The names come from the files, so a new one cannot
 * slip past.
 */

const repo = new URL("../..", import.meta.url).pathname;
const skippedDirs = new Set(["node_modules", ".git", "dist", "data", ".aviso-cluster", "gen", "reports"]);
const textExtensions = new Set([
  ".ts",
  ".js",
  ".mjs",
  ".md",
  ".html",
  ".yaml",
  ".yml",
  ".sh",
  ".json",
  ".service",
  ".example",
  "",
]);
/** Deliberate typos and strangers that test the refusal of unknown names. */
const fixtureFiles = new Set(["test/unit/config.test.ts"]);

async function mentionedNames(): Promise<Map<string, string>> {
  const names = new Map<string, string>(); // name → first file that mentions it
  const pending = [repo];
  for (let visited = 0; pending.length > 0 && visited < 5000; visited++) {
    const dir = pending.pop() as string;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        const generated = entry.name.startsWith("test-artifacts") || entry.name.startsWith(".stryker-tmp");
        if (!skippedDirs.has(entry.name) && !generated) pending.push(path);
        continue;
      }
      const file = relative(repo, path);
      if (!entry.isFile() || !textExtensions.has(extname(entry.name)) || fixtureFiles.has(file)) continue;
      // `AVISO_PEER_TLS_*` names a family of settings, not a variable.
      for (const [name] of (await readFile(path, "utf8")).matchAll(/AVISO_[A-Z0-9_]+\*?/g))
        if (!/[_*]$/.test(name) && !names.has(name)) names.set(name, file);
    }
  }
  return names;
}

const nodes = childNodesPerTest();

describe("client environment variables", () => {
  it("are all known to the node, which starts with every one of them exported", async () => {
    const settings = new Set(configKeys.map((info) => info.env));
    const mentioned = await mentionedNames();
    const clientNames = [...mentioned.keys()].filter(
      (name) => !settings.has(name) && name !== "AVISO_CONFIG",
    );
    // The scan reads the places the issue named: the CLI, the SDK example, the benchmarks.
    expect(clientNames).toEqual(
      expect.arrayContaining(["AVISO_PASSWORD", "AVISO_CLI_CONFIG", "AVISO_URLS", "AVISO_URL"]),
    );
    const unlisted = clientNames.filter((name) => !Object.hasOwn(clientEnvNames, name));
    expect(unlisted.map((name) => `${name} (in ${mentioned.get(name)})`)).toEqual([]);

    const exported = Object.fromEntries(clientNames.map((name) => [name, "exported for a client"]));
    const node = await nodes.spawn({ dataDir: await nodes.tempDir(), env: exported });
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
  });
});
