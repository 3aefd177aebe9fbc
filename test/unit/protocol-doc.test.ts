import { readdirSync, readFileSync } from "node:fs";
import type { TSchema } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { wsOps } from "../../src/edge/ws/dispatch.ts";
import { clientFrameSchemas } from "../../src/edge/ws/frames.ts";

const doc = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");

/** The lines of the first fenced block after `heading`. */
function fencedBlockAfter(heading: string): string[] {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/protocol.md has no heading "${heading}"`);
  const block = /```\n([\s\S]*?)```/.exec(doc.slice(start));
  if (block === null) throw new Error(`no fenced block under "${heading}"`);
  return (block[1] as string).split("\n").filter((line) => line.trim() !== "");
}

/**
 * One frame shape as `op(field, optional?, …)`, fields sorted: what the doc's
 * `{"op":"nack","sub","ids":[…],"delayMs"?,"id"?}` and a frame schema both reduce to.
 */
function signature(op: string, required: readonly string[], optional: readonly string[]): string {
  const fields = [...required, ...optional.map((field) => `${field}?`)].sort();
  return `${op}(${fields.join(", ")})`;
}

/** A documented frame: `{"op":"x","a","b":[…],"c"?}` → op x, a and b required, c optional. */
function documentedFrame(line: string): { op: string; signature: string } {
  const frame = /^\{"op":"([a-z]+)"(.*?)\}(?:\s|$)/.exec(line);
  if (frame === null) throw new Error(`not a frame line: ${line}`);
  const op = frame[1] as string;
  const required: string[] = [];
  const optional: string[] = [];
  for (const field of (frame[2] as string).matchAll(/,"([A-Za-z]+)"(?::\[…\])?(\?)?/g))
    (field[2] === "?" ? optional : required).push(field[1] as string);
  return { op, signature: signature(op, required, optional) };
}

/** The same reduction of a TypeBox frame schema: required fields are those in `required`. */
function schemaFrame(schema: TSchema): { op: string; signature: string } {
  const properties = schema.properties as Record<string, TSchema>;
  const op = String(properties.op?.const);
  const required = new Set<string>(schema.required ?? []);
  const fields = Object.keys(properties).filter((field) => field !== "op");
  return {
    op,
    signature: signature(
      op,
      fields.filter((field) => required.has(field)),
      fields.filter((field) => !required.has(field)),
    ),
  };
}

/** Every `{"op":"x"` a server-side WebSocket file builds, as text or as a template prefix. */
function serverOpsInSource(): Set<string> {
  const ops = new Set<string>();
  const dir = new URL("../../src/edge/ws/", import.meta.url);
  for (const entry of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    if (!entry.endsWith(".ts")) continue;
    for (const match of readFileSync(new URL(entry, dir), "utf8").matchAll(/[`']\{"op":"([a-z]+)"/g))
      ops.add(match[1] as string);
  }
  return ops;
}

describe("docs/protocol.md", () => {
  const clientLines = fencedBlockAfter("### Client → server");

  it("lists every client → server frame the node validates, field by field, and nothing else", () => {
    const documented = clientLines.map((line) => documentedFrame(line).signature).sort();
    const served = Object.values(clientFrameSchemas)
      .map((schema) => schemaFrame(schema).signature)
      .sort();
    expect(documented).toEqual(served);
  });

  it("documents exactly the ops the WebSocket dispatcher serves", () => {
    const documented = new Set(clientLines.map((line) => documentedFrame(line).op));
    expect([...documented].sort()).toEqual(Object.keys(wsOps).sort());
  });

  it("lists every server → client op the node builds, and nothing else", () => {
    const documented = new Set(
      fencedBlockAfter("### Server → client").map((line) => documentedFrame(line).op),
    );
    expect([...documented].sort()).toEqual([...serverOpsInSource()].sort());
  });
});
