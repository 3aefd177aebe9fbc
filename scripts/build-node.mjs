// `npm run build`: compiles src/ to dist/ with tsc (emit only, `noCheck`:
// type checking is `npm run typecheck`, run by `npm test` and CI) and copies the files tsc
// does not emit but a node reads at run time next to the code that reads them
// (the SQL migrations and the password hashing worker).
// `--if-stale` (what `npm start` runs first) builds only when a file under
// src/ or a tsconfig is newer than the last build, so an unchanged tree starts
// at once and an edited one is never run from old JavaScript.
// Plain JavaScript so that it needs no tsx.
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const stamp = join(root, "dist", ".build-stamp");

function newestInput() {
  let newest = 0;
  const inputs = [join(root, "tsconfig.json"), join(root, "tsconfig.build.json"), join(root, "package.json")];
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) inputs.push(join(entry.parentPath, entry.name));
  for (const path of inputs) newest = Math.max(newest, statSync(path).mtimeMs);
  return newest;
}

function builtAt() {
  try {
    return statSync(stamp).mtimeMs;
  } catch {
    return -1;
  }
}

if (process.argv.includes("--if-stale") && builtAt() >= newestInput()) process.exit(0);

const startedAt = Date.now();
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/\.(sql|mjs)$/.test(entry.name)) continue;
  const from = join(entry.parentPath, entry.name);
  cpSync(from, join(root, "dist", relative(src, from)));
}
// Stamped with the time the build began: a file saved during the build is newer, and rebuilds next time.
writeFileSync(stamp, `${new Date(startedAt).toISOString()}\n`);
utimesSync(stamp, startedAt / 1000, startedAt / 1000);
