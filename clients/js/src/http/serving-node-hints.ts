/**
 * Which node serves a queue or topic, learnt from the lookup
 * (`GET /v1/{queues|topics}/{name}/lookup`), so that calls about it go
 * straight there instead of through a node that would forward them. Only
 * nodes in the client's own `urls` are used (the token is never sent
 * anywhere else); answers are kept for `ttlMs`, and a node that failed a call
 * is not used for that long either. A hint, never a requirement: without one,
 * calls go to the client's current node, which forwards them.
 */
export interface ResourceRef {
  kind: "queues" | "topics";
  name: string;
}

/** Asks any node where a resource is served; answers the node's advertised base URL. */
export type LookupServingNode = (resource: ResourceRef) => Promise<string>;

export class ServingNodeHints {
  /** Answers by resource; `url` undefined: the serving node is not one of ours (or the lookup failed). */
  private readonly known = new Map<string, { url: string | undefined; until: number }>();
  private readonly asking = new Set<string>();
  private readonly urls: ReadonlySet<string>;

  constructor(
    urls: readonly string[],
    private readonly lookup: LookupServingNode,
    private readonly ttlMs: number,
    /** Most answers kept; the oldest goes first (clients that touch many one-off queues stay bounded). */
    private readonly maxEntries = 10_000,
  ) {
    this.urls = new Set(urls.map(withoutTrailingSlash));
  }

  /**
   * The configured URL of the node serving `resource`, when known. A stale
   * answer is still used while a new lookup runs; none at all means the
   * current node (and a lookup starts).
   */
  urlFor(resource: ResourceRef): string | undefined {
    const key = keyOf(resource);
    const hint = this.known.get(key);
    if (hint !== undefined && hint.until > Date.now()) return hint.url;
    this.learn(resource, key);
    return hint?.url;
  }

  /**
   * A call to the hinted node failed: calls about `resource` go through the
   * node list for the next `ttlMs` (a lookup made now could still name the
   * failed node, until the cluster notices it is gone).
   */
  forget(resource: ResourceRef): void {
    this.remember(keyOf(resource), undefined);
  }

  private learn(resource: ResourceRef, key: string): void {
    if (this.asking.has(key)) return;
    this.asking.add(key);
    this.lookup(resource)
      .then(
        (httpUrl) => {
          const url = withoutTrailingSlash(httpUrl);
          this.remember(key, this.urls.has(url) ? url : undefined);
        },
        // No hint then: calls keep going through the current node, which forwards them.
        () => this.remember(key, undefined),
      )
      .finally(() => this.asking.delete(key));
  }

  private remember(key: string, url: string | undefined): void {
    this.known.set(key, { url, until: Date.now() + this.ttlMs });
    if (this.known.size > this.maxEntries) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }
}

function keyOf(resource: ResourceRef): string {
  return `${resource.kind}/${resource.name}`;
}

function withoutTrailingSlash(url: string): string {
  return url.endsWith("/") ? url.slice(0, -1) : url;
}
