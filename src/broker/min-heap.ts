/** A binary min-heap ordered by a numeric priority; ties keep no particular order. */
export class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly priorityOf: (item: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let index = items.length - 1;
    const priority = this.priorityOf(item);
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex] as T;
      if (this.priorityOf(parent) <= priority) break;
      items[index] = parent;
      index = parentIndex;
    }
    items[index] = item;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let index = 0;
    const priority = this.priorityOf(last);
    for (;;) {
      const left = 2 * index + 1;
      if (left >= items.length) break;
      const right = left + 1;
      let child = left;
      if (right < items.length && this.priorityOf(items[right] as T) < this.priorityOf(items[left] as T)) {
        child = right;
      }
      const childItem = items[child] as T;
      if (this.priorityOf(childItem) >= priority) break;
      items[index] = childItem;
      index = child;
    }
    items[index] = last;
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}
