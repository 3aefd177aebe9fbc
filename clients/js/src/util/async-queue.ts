/**
 * An unbounded push/pull queue behind an async iterator: producers `push`,
 * one consumer awaits `next()`. `end()` finishes it after what is buffered;
 * `fail(error)` makes the consumer throw once the buffer is drained.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | null =
    null;
  private done = false;
  private failure: { error: unknown } | null = null;

  constructor(private readonly onReturn: () => void = () => {}) {}

  get size(): number {
    return this.buffer.length;
  }

  get ended(): boolean {
    return this.done;
  }

  push(value: T): void {
    if (this.done) return;
    if (this.waiting !== null) {
      const { resolve } = this.waiting;
      this.waiting = null;
      resolve({ value, done: false });
      return;
    }
    this.buffer.push(value);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.settleWaiting();
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.failure = { error };
    this.done = true;
    this.settleWaiting();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift() as T, done: false });
    if (this.done) return this.finished();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** Called by `break` / `return` in a for-await loop. */
  return(): Promise<IteratorResult<T>> {
    this.buffer.length = 0;
    if (!this.done) {
      this.done = true;
      this.onReturn();
    }
    this.settleWaiting();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private finished(): Promise<IteratorResult<T>> {
    if (this.failure !== null) {
      const { error } = this.failure;
      this.failure = null;
      return Promise.reject(error);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  private settleWaiting(): void {
    if (this.waiting === null || this.buffer.length > 0) return;
    const waiting = this.waiting;
    this.waiting = null;
    this.finished().then(waiting.resolve, waiting.reject);
  }
}
