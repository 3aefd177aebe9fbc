import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
  ".css": "text/css; charset=utf-8",
};
/** Only the examples and the built bundles are served, never the rest of the package. */
const SERVED = ["/examples/", "/dist/"];

export interface StaticServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A tiny static file server for the browser example: the page talks to the
 * Aviso node on another origin, which the node allows with AVISO_CORS_ORIGIN.
 */
export async function serveExamples(port = 0, host = "127.0.0.1"): Promise<StaticServer> {
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname));
    const file = join(packageDir, path.endsWith("/") ? `${path}index.html` : path);
    const allowed = SERVED.some((prefix) => path.startsWith(prefix)) && file.startsWith(packageDir);
    const found = allowed && (await stat(file).catch(() => null))?.isFile() === true;
    if (!found) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    response.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serveExamples(Number(process.env.PORT ?? 8081));
  process.stdout.write(
    `Serving ${server.url}/examples/browser/ — start the node with AVISO_CORS_ORIGIN=${server.url}\n`,
  );
}
