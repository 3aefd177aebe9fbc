import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of a node, so tests can break a client's connections
 * underneath it the way a network or a dying node does: every socket drops
 * at once (the client sees 1006 / "other side closed"), or the next HTTP
 * answer is swallowed after the request reached the node.
 */
export class TcpProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  private swallowNextAnswers = 0;
  /** While true, new connections are cut at once (a node that is down). */
  refuseConnections = false;
  connections = 0;
  swallowed = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(targetUrl: string): Promise<TcpProxy> {
    const target = new URL(targetUrl);
    let proxy: TcpProxy | null = null;
    const server = createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("proxy did not bind");
    proxy = new TcpProxy(server, `http://127.0.0.1:${address.port}`);
    return proxy;
  }

  /** Destroys every proxied connection now; new ones are accepted as before. */
  dropAll(): number {
    const count = this.pairs.size;
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    return count;
  }

  /** Existing connections stay open but carry nothing more, like a node that froze; new ones work. */
  freezeAll(): number {
    for (const pair of this.pairs) pair.frozen = true;
    return this.pairs.size;
  }

  /**
   * The next `count` answers from the node (on any connection) are not
   * passed on: the connection dies instead, after the request reached the
   * node — the case where a client cannot know whether its publish landed.
   */
  swallowAnswers(count = 1): void {
    this.swallowNextAnswers += count;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: URL): void {
    if (this.refuseConnections) {
      client.destroy();
      return;
    }
    this.connections++;
    const upstream = connect(Number(target.port), target.hostname);
    const pair = { client, upstream, frozen: false };
    this.pairs.add(pair);
    client.on("data", (chunk) => {
      if (!pair.frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (pair.frozen) return;
      if (this.swallowNextAnswers > 0) {
        this.swallowNextAnswers--;
        this.swallowed++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  }
}
