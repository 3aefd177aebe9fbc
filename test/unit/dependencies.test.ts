import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as {
  dependencies: Record<string, string>;
};

/** The packages src/ imports (`@scope/name/sub` → `@scope/name`), type-only imports included. */
function packagesImportedBySrc(): Set<string> {
  const packages = new Set<string>();
  const src = new URL("src/", root);
  for (const file of readdirSync(src, { recursive: true, encoding: "utf8" })) {
    if (!file.endsWith(".ts") || file.endsWith(".d.ts")) continue;
    const text = readFileSync(new URL(file, src), "utf8");
    for (const match of text.matchAll(/(?:from |import\()"([^".][^"]*)"/g)) {
      const specifier = match[1] as string;
      if (specifier.startsWith("node:")) continue;
      const parts = specifier.split("/");
      packages.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string));
    }
  }
  return packages;
}

// What `npm ci --omit=dev` installs (deploy/Dockerfile, the systemd unit) is what the node imports:
// tools for benches, tests and scripts are dev dependencies (docs/architecture.md, "Decisions").
describe("package.json dependencies", () => {
  it("are exactly the packages the node's sources import", () => {
    expect(Object.keys(manifest.dependencies).sort()).toEqual([...packagesImportedBySrc()].sort());
  });
});
