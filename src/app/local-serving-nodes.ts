import type { ResourceKind } from "../broker/types.ts";
import type { AvisoError } from "../errors/aviso-error.ts";
import type { EngineHost } from "./engine-host.ts";
import type { ServingNodes } from "./serving-nodes.ts";

/** Standalone: this node owns every queue and topic, so every call goes to a local engine. */
export function createLocalServingNodes(host: EngineHost): ServingNodes {
  return {
    queues: {
      publish: async (queue, inputs) => (await host.queue(queue)).publish(inputs),
      receive: async (queue, request, signal) => (await host.queue(queue)).receive(request, signal),
      ack: async (queue, receipts) => (await host.queue(queue)).ack(receipts),
      nack: async (queue, receipts, delayMs) => (await host.queue(queue)).nack(receipts, delayMs),
      consume: async (queue, sink, prefetch) => (await host.queue(queue)).addConsumer(sink, prefetch),
      stats: async (queue) => host.loadedQueue(queue)?.stats(),
    },
    topics: {
      publish: async (topic, inputs) => (await host.topic(topic)).publish(inputs),
      feed: (topic) => host.topic(topic),
      head: async (topic) => {
        const engine = await host.topic(topic);
        return { nextOffset: engine.nextOffset(), firstOffset: engine.firstOffset() };
      },
    },
    release: (kind: ResourceKind, name: string, reason: AvisoError) => host.release(kind, name, reason),
    bindingCreated: (topic, queue) => host.startBinding(topic, queue),
    bindingRemoved: async (topic, queue) => host.stopBinding(topic, queue),
    close: async (reason) => host.close(reason),
  };
}
