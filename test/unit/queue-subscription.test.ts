import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/app/context.ts";
import type { ConsumerSink, Delivery, QueueConsumer } from "../../src/broker/queue/queue-ports.ts";
import { QueueSubscription } from "../../src/edge/ws/queue-subscription.ts";
import type { WsSession } from "../../src/edge/ws/session.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";

function delivery(id: string): Delivery {
  return { id, payload: "{}", headers: null, publishedAt: 0, deliveries: 1, receipt: `r${id}` };
}

/** A socket session that records frames, and a queue service handing out one sink per attach. */
function harness() {
  const clock = new ManualClock();
  const frames: string[] = [];
  const sinks: ConsumerSink[] = [];
  const consumer: QueueConsumer = {
    prefetch: 10,
    ack: async () => ({ acked: 0, stale: [] }),
    nack: async () => ({ acked: 0, stale: [] }),
    resume: () => {},
    close: () => {},
  };
  const session = {
    deps: {
      clock,
      services: {
        queues: {
          consume: async (_principal: Principal, _queue: string, sink: ConsumerSink) => {
            sinks.push(sink);
            return consumer;
          },
        },
      },
    },
    isOpen: true,
    writable: true,
    onDrain: () => () => {},
    sendWhileWritable: (batch: readonly string[]) => {
      frames.push(...batch);
      return batch.length;
    },
    send: (frame: string) => frames.push(frame),
    forgetSubscription: () => {},
  } as unknown as WsSession;
  const subscription = new QueueSubscription(session, "s1", "q", 10, {} as Principal);
  return { clock, frames, sinks, subscription };
}

const ids = (frames: string[]) => frames.map((frame) => JSON.parse(frame).id as string);

describe("QueueSubscription", () => {
  it("drops what a closed attachment still delivers (a stale serving node's late frames) and takes the new one's", async () => {
    const { clock, frames, sinks, subscription } = harness();
    await subscription.attach();
    subscription.announce();
    sinks[0]?.deliver([delivery("1")]);
    expect(ids(frames)).toEqual(["1"]);
    // The serving node went away: the subscription re-attaches after a short pause.
    sinks[0]?.closed(new AvisoError("OWNER_UNAVAILABLE"));
    sinks[0]?.deliver([delivery("2")]);
    clock.advance(300);
    await settle();
    expect(sinks).toHaveLength(2);
    sinks[1]?.deliver([delivery("3")]);
    // Late frames of the first attachment, after the new one is in place.
    sinks[0]?.deliver([delivery("4")]);
    sinks[0]?.closed(new AvisoError("OWNER_UNAVAILABLE"));
    expect(ids(frames)).toEqual(["1", "3"]);
    clock.advance(300);
    await settle();
    expect(sinks).toHaveLength(2);
  });
});
