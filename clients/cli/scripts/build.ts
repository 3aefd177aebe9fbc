import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { writeAtomically } from "../../js/scripts/build.ts";

const packageDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * Bundles the CLI and the SDK source into dist/aviso.js (what bin/aviso.js
 * runs). Its npm dependencies stay external and are resolved at run time.
 */
export async function buildCli(outDir = join(packageDir, "dist")): Promise<void> {
  const result = await build({
    entryPoints: [join(packageDir, "src/main.ts")],
    outfile: join(outDir, "aviso.js"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Resolve @aviso/client to its TypeScript source, so the CLI builds without building the SDK first.
    conditions: ["aviso-source"],
    external: ["commander", "cli-table3", "picocolors", "ws"],
    sourcemap: "linked",
    legalComments: "none",
    write: false,
  });
  await writeAtomically(result.outputFiles);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildCli();
  process.stdout.write(`built ${join(packageDir, "dist")}\n`);
}
