import type { TopicDefinition } from "../../src/broker/types.ts";

/** A durable topic definition with no retention limits, for engine-level unit tests. */
export function topicDefinition(overrides: Partial<TopicDefinition> = {}): TopicDefinition {
  return {
    id: "events-id",
    name: "events",
    creator: "alice",
    private: false,
    durable: true,
    retention: { maxAgeMs: null, maxMessages: null },
    createdAt: 0,
    ...overrides,
  };
}
