import { connect } from "node:net";

/**
 * What one TCP connect to a peer's port says about the process behind it:
 * "refused" — nothing listens there (the process is gone: kill -9 closes its
 * sockets at once, and the kernel answers a connect with a reset);
 * "answered" — something accepted the connection (a paused process too: its
 * kernel still accepts); "silent" — no answer in time (a partition, a host
 * down) or any other failure, which proves nothing.
 */
export type ProbeVerdict = "refused" | "answered" | "silent";

/** Connects to `peerUrl` ("host:port") and closes at once; never rejects. */
export function probePeerPort(peerUrl: string, timeoutMs: number): Promise<ProbeVerdict> {
  const colon = peerUrl.lastIndexOf(":");
  const host = peerUrl.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const port = Number(peerUrl.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) return Promise.resolve("silent");
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (verdict: ProbeVerdict) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(verdict);
    };
    const timer = setTimeout(() => done("silent"), timeoutMs);
    socket.once("connect", () => done("answered"));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done(error.code === "ECONNREFUSED" ? "refused" : "silent"),
    );
  });
}
