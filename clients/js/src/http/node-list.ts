/**
 * The nodes a client may use and which one it prefers now. REST calls and
 * the WebSocket share it, so once one of them finds a node dead the other
 * stops trying it first too.
 */
export interface NodeChoice {
  readonly index: number;
  readonly url: string;
}

export class NodeList {
  private currentIndex: number;

  constructor(
    readonly urls: readonly string[],
    randomize: boolean,
  ) {
    this.currentIndex = randomize ? Math.floor(Math.random() * urls.length) : 0;
  }

  current(): NodeChoice {
    return { index: this.currentIndex, url: this.urls[this.currentIndex] as string };
  }

  /** Moves past `failed`, unless another caller already has (concurrent failures advance once). */
  advancePast(failed: NodeChoice): NodeChoice {
    if (failed.index === this.currentIndex) this.currentIndex = (this.currentIndex + 1) % this.urls.length;
    return this.current();
  }
}

/** `http://host:port/base` → `ws://host:port/base/v1/ws`. */
export function webSocketUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, "ws")}/v1/ws`;
}
