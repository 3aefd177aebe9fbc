import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The dependency picture of src/ (docs/architecture.md, "Layers"): entry →
 * edge → app → broker, with cluster and store beside app, and a few shared
 * modules at the bottom. An import from a lower layer to a higher one fails
 * this test, so the picture stays true as code moves.
 */
const layerOf: ReadonlyArray<[prefix: string, layer: Layer]> = [
  ["src/main.ts", "entry"],
  ["src/node.ts", "entry"],
  ["src/node/", "entry"],
  ["src/edge/", "edge"],
  ["src/cluster/", "cluster"],
  ["src/app/", "app"],
  ["src/auth/", "auth"],
  ["src/store/", "store"],
  ["src/broker/", "broker"],
  ["src/shared/", "shared"],
  ["src/errors/", "shared"],
  ["src/log/", "shared"],
  ["src/config/", "shared"],
  ["src/metrics/", "shared"],
];

type Layer = "entry" | "edge" | "cluster" | "app" | "auth" | "store" | "broker" | "shared";

/** What each layer may import besides itself. */
const mayImport: Record<Layer, readonly Layer[]> = {
  entry: ["edge", "cluster", "app", "auth", "store", "broker", "shared"],
  edge: ["app", "auth", "broker", "shared"],
  cluster: ["app", "store", "broker", "shared"],
  app: ["auth", "store", "broker", "shared"],
  auth: ["shared"],
  store: ["broker", "shared"],
  broker: ["shared"],
  shared: [],
};

const root = resolve(import.meta.dirname, "../..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === "gen" ? [] : sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

function layer(file: string): Layer {
  const path = relative(root, file);
  const found = layerOf.find(([prefix]) => path === prefix || path.startsWith(prefix));
  if (found === undefined) throw new Error(`${path} belongs to no layer: add it to layerOf`);
  return found[1];
}

/** Relative imports of a file (static, type-only and dynamic), resolved to absolute paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map(
    (match) => match[1] as string,
  );
  return specifiers.map((specifier) => resolve(dirname(file), specifier));
}

describe("layers", () => {
  const files = sourceFiles(join(root, "src"));

  it("finds the source files and their imports", () => {
    expect(files.length).toBeGreaterThan(100);
    expect(importsOf(join(root, "src/node.ts")).length).toBeGreaterThan(5);
  });

  it("every import points to the same layer or one it may use", () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layer(file);
      for (const target of importsOf(file)) {
        const to = layer(target);
        if (to !== from && !mayImport[from].includes(to)) {
          violations.push(`${relative(root, file)} (${from}) imports ${relative(root, target)} (${to})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it("reports an upward import (the check itself can fail)", () => {
    expect(mayImport.broker.includes("app")).toBe(false);
    expect(layer(join(root, "src/broker/queue/queue-engine.ts"))).toBe("broker");
    expect(layer(join(root, "src/edge/ws/session.ts"))).toBe("edge");
  });
});
