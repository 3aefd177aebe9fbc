import type { TopicFeed } from "../broker/topic/topic-ports.ts";
import type { TopicMessage } from "../broker/types.ts";
import type { AvisoError } from "../errors/aviso-error.ts";

const PAGE = 500;

/**
 * A view of a live feed that starts at `fromOffset`: committed history from
 * there up to the head, then live batches, as one contiguous run. Live
 * batches are buffered from the first moment, so nothing committed while the
 * history is read slips between the two.
 */
export function followFrom(feed: TopicFeed, fromOffset: number): TopicFeed {
  let next = fromOffset;
  let catchingUp = true;
  const buffered: Array<readonly TopicMessage[]> = [];
  const committedListeners = new Set<(messages: readonly TopicMessage[]) => void>();

  const emit = (messages: readonly TopicMessage[]) => {
    const fresh = messages.filter((message) => message.offset >= next);
    const last = fresh.at(-1);
    if (last === undefined) return;
    next = last.offset + 1;
    for (const listener of committedListeners) listener(fresh);
  };

  const unsubscribe = feed.onCommitted((messages) => {
    if (catchingUp) buffered.push(messages);
    else emit(messages);
  });

  const catchUp = async () => {
    try {
      while (next < feed.nextOffset()) {
        if (next < feed.firstOffset()) next = feed.firstOffset();
        const page = await feed.read(next, PAGE);
        if (page.length === 0) break;
        emit(page);
      }
    } finally {
      catchingUp = false;
      for (const batch of buffered.splice(0)) emit(batch);
    }
  };
  let started = false;

  return {
    name: feed.name,
    nextOffset: () => next,
    firstOffset: () => feed.firstOffset(),
    read: async (from, limit) => (await feed.read(from, limit)).filter((message) => message.offset < next),
    onCommitted(listener) {
      committedListeners.add(listener);
      // History is read only once someone listens: a page read from the serving node's memory can
      // resolve within microtasks, before the caller has hooked on, and would reach nobody.
      if (!started) {
        started = true;
        void catchUp();
      }
      return () => {
        committedListeners.delete(listener);
        if (committedListeners.size === 0) unsubscribe();
      };
    },
    onEnded: (listener: (reason: AvisoError) => void) => feed.onEnded(listener),
  };
}
