import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { buildClient } from "../scripts/build.ts";

describe("the built SDK (dist/index.js)", () => {
  it("keeps its error class's constructor name", async () => {
    const outDir = await mkdtemp(join(tmpdir(), "aviso-sdk-build-"));
    try {
      await buildClient(outDir);
      const sdk = (await import(
        pathToFileURL(join(outDir, "index.js")).href
      )) as typeof import("../src/index.ts");
      const error = sdk.AvisoClientError.fromServer(
        { code: "not_found", reason: "QUEUE_NOT_FOUND", message: "no such queue" },
        404,
      );
      expect(error.constructor.name).toBe("AvisoClientError");
      expect(error.name).toBe("AvisoClientError");
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  });
});
