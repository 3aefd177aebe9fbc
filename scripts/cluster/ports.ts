import { createServer } from "node:net";

/** Resolves the port if it can be bound on 127.0.0.1 right now (0 = any free port), else rejects. */
export function probePort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const bound = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/** Throws one error naming every port of `wanted` that is already taken. */
export async function checkPortsFree(wanted: ReadonlyArray<{ port: number; what: string }>): Promise<void> {
  const taken: string[] = [];
  for (const { port, what } of wanted) {
    await probePort(port).catch(() => taken.push(`${port} (${what})`));
  }
  if (taken.length > 0) {
    throw new Error(
      `ports in use: ${taken.join(", ")}; stop what uses them or pass --base-port / --peer-base-port / --zk-port / --mysql-port`,
    );
  }
}

/** `count` distinct free ports on 127.0.0.1, none of them in `avoid` (bounded: 20 tries per port). */
export async function freePorts(count: number, avoid: readonly number[]): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count; attempt += 1) {
    if (attempt >= count * 20) throw new Error(`could not find ${count} free ports`);
    const port = await probePort(0);
    if (!avoid.includes(port) && !ports.includes(port)) ports.push(port);
  }
  return ports;
}
