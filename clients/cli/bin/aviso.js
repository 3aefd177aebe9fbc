#!/usr/bin/env node
// The published command runs the bundle that `npm run build -w @aviso/cli` writes to dist/.
import { existsSync } from "node:fs";

const bundle = new URL("../dist/aviso.js", import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write("aviso: the CLI is not built yet; run `npm run build:clients` in the repository.\n");
  process.exit(2);
}
await import(bundle.href);
