import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build } from "esbuild";

const packageDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * Builds the package into dist/: `index.js` for Node.js (ESM), and for
 * browsers `aviso.esm.js` (ESM) and `aviso.iife.js` (a <script> that defines
 * the global `Aviso`). `ws` stays external everywhere: Node.js resolves it
 * from the dependencies, browsers never reach the lazy import.
 */
export async function buildClient(outDir = join(packageDir, "dist")): Promise<void> {
  const common: BuildOptions = {
    entryPoints: [join(packageDir, "src/index.ts")],
    bundle: true,
    external: ["ws"],
    target: "es2022",
    sourcemap: "linked",
    legalComments: "none",
    // Bundling renames classes it references from inside themselves (AvisoClientError → _AvisoClientError);
    // users print and compare constructor names.
    keepNames: true,
    write: false,
  };
  const outputs = await Promise.all([
    build({ ...common, platform: "node", format: "esm", outfile: join(outDir, "index.js") }),
    build({ ...common, platform: "browser", format: "esm", outfile: join(outDir, "aviso.esm.js") }),
    build({
      ...common,
      platform: "browser",
      format: "iife",
      globalName: "Aviso",
      outfile: join(outDir, "aviso.iife.js"),
    }),
  ]);
  await writeAtomically(outputs.flatMap((output) => output.outputFiles ?? []));
}

/** Tests build concurrently in several workers: a reader must never see a half-written file. */
export async function writeAtomically(
  files: ReadonlyArray<{ path: string; contents: Uint8Array }>,
): Promise<void> {
  for (const file of files) {
    await mkdir(dirname(file.path), { recursive: true });
    const temporary = `${file.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(temporary, file.contents);
    await rename(temporary, file.path);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildClient();
  process.stdout.write(`built ${join(packageDir, "dist")}\n`);
}
