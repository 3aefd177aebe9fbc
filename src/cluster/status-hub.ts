/**
 * Fan-out of status events to listeners and to async iterators (the
 * `for await (const s of coordinator.status())` style of nats.js). Each
 * iterator buffers what it has not consumed yet; all of them end at end().
 */
export class StatusHub<Status> {
  private readonly listeners = new Set<(status: Status) => void>();
  /** Iterators waiting to be told that no more events will come. */
  private readonly endListeners = new Set<() => void>();
  private ended = false;

  constructor(private readonly onListenerError: (error: unknown) => void) {}

  emit(status: Status): void {
    if (this.ended) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(status);
      } catch (error) {
        // One failing listener must not keep the others from hearing about a lost session.
        this.onListenerError(error);
      }
    }
  }

  subscribe(listener: (status: Status) => void): () => void {
    if (this.ended) return () => {};
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Events emitted from now on, until end() or until the consumer stops iterating. */
  iterate(): AsyncIterable<Status> {
    const buffered: Status[] = [];
    let wake: (() => void) | undefined;
    let finished = this.ended;
    const unsubscribe = this.subscribe((status) => {
      buffered.push(status);
      wake?.();
    });
    const endListener = () => {
      finished = true;
      wake?.();
    };
    this.endListeners.add(endListener);
    const cleanUp = () => {
      unsubscribe();
      this.endListeners.delete(endListener);
    };
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<Status> => ({
        next: async (): Promise<IteratorResult<Status>> => {
          while (buffered.length === 0 && !finished) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
          const status = buffered.shift();
          if (status !== undefined) return { done: false, value: status };
          cleanUp();
          return { done: true, value: undefined };
        },
        return: async (): Promise<IteratorResult<Status>> => {
          finished = true;
          buffered.length = 0;
          cleanUp();
          return { done: true, value: undefined };
        },
      }),
    };
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.listeners.clear();
    for (const listener of [...this.endListeners]) listener();
    this.endListeners.clear();
  }
}
