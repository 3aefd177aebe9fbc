import { describe, expect, it } from "vitest";
import { assertJsonDepth, MAX_JSON_DEPTH } from "../../src/edge/json-depth.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

function refusal(text: string, maxDepth?: number): unknown {
  try {
    assertJsonDepth(text, maxDepth);
    return undefined;
  } catch (error) {
    return error;
  }
}

describe("assertJsonDepth", () => {
  it("takes JSON nested exactly MAX_JSON_DEPTH levels and refuses one more with VALIDATION_FAILED", () => {
    expect(refusal(nested(MAX_JSON_DEPTH))).toBeUndefined();
    const error = refusal(`{"payload":${nested(MAX_JSON_DEPTH)}}`);
    expect(error).toBeInstanceOf(AvisoError);
    expect(error).toMatchObject({
      reason: "VALIDATION_FAILED",
      details: { problems: [{ path: "/", message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` }] },
    });
  });

  it("counts objects and arrays alike, and depth, not the number of containers", () => {
    expect(refusal('{"a":{"b":[1]}}', 2)).toBeInstanceOf(AvisoError);
    expect(refusal('[[1],[2],{"a":[3]},{}]', 3)).toBeUndefined();
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    expect(refusal(JSON.stringify({ text: "[".repeat(1000) }), 1)).toBeUndefined();
    expect(refusal(JSON.stringify({ text: `\\"${"{".repeat(1000)}\\"` }), 1)).toBeUndefined();
    expect(refusal(JSON.stringify({ text: '\\"' }) + nested(2), 2)).toBeUndefined();
    expect(refusal(`["\\\\"${",[".repeat(3)}${"]".repeat(3)}]`, 3)).toBeInstanceOf(AvisoError);
  });

  it("takes many shallow containers (more brackets than the limit) and refuses deep ones hidden among them", () => {
    const items = Array.from({ length: 200 }, (_, i) => JSON.stringify({ i, tags: [i] })).join(",");
    expect(refusal(`[${items}]`, 3)).toBeUndefined();
    expect(refusal(`[${items}]`, 2)).toBeInstanceOf(AvisoError);
    expect(refusal(`[${items},${nested(3)}]`, 3)).toBeInstanceOf(AvisoError);
    expect(refusal(`[${items},${nested(2)}]`, 3)).toBeUndefined();
  });

  it("leaves text that is not JSON to the parser", () => {
    for (const text of ["", "]]]]", "not json", '"unterminated [[[[', "\u00ff"]) {
      expect(refusal(text, 2)).toBeUndefined();
    }
  });
});
