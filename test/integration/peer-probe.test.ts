import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { probePeerPort } from "../../src/cluster/peer/peer-probe.ts";

/** The signal early failover rests on, against real sockets: a closed port refuses, a listening one answers. */
describe("probePeerPort", () => {
  it("answers 'answered' for a listening port and 'refused' once nothing listens there", async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await expect(probePeerPort(`127.0.0.1:${port}`, 2000)).resolves.toBe("answered");
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await expect(probePeerPort(`127.0.0.1:${port}`, 2000)).resolves.toBe("refused");
  });

  it("calls a malformed address silent rather than guessing", async () => {
    await expect(probePeerPort("no-port", 2000)).resolves.toBe("silent");
  });
});
