import { describe, expect, it } from "vitest";
import { type SessionDeps, type SocketPort, WsSession } from "../../src/edge/ws/session.ts";
import { TopicSubscription } from "../../src/edge/ws/topic-subscription.ts";

/** A socket that records what is written to it, in order; `live` stands for uWS pub/sub writing to it directly. */
function recordingSocket() {
  const written: string[] = [];
  const socket: SocketPort = {
    ip: "127.0.0.1",
    send: (frame) => written.push(JSON.parse(frame).op as string),
    cork: (fn) => fn(),
    subscribe: () => {},
    unsubscribe: () => {},
    bufferedAmount: () => 0,
    end: () => {},
  };
  return { socket, written, live: () => written.push("live") };
}

describe("TopicSubscription", () => {
  it("writes `replayed` when it goes live, before any live message the channel writes to the socket", () => {
    const { socket, written, live } = recordingSocket();
    const deps = { config: { slowConsumerBufferBytes: 1 << 30 } } as unknown as SessionDeps;
    const session = new WsSession(socket, deps);
    const subscription = new TopicSubscription(session, "t", 1);
    subscription.joined("g1", 0);
    subscription.goLive("g1", { from: 0, to: 10, complete: true });
    // uWS pub/sub writes a live message to the socket as soon as it is published, outside the session.
    live();
    expect(written).toEqual(["ok", "replayed", "live"]);
  });

  it("writes its `ok` when it goes live without a replay, before any live message", () => {
    const { socket, written, live } = recordingSocket();
    const deps = { config: { slowConsumerBufferBytes: 1 << 30 } } as unknown as SessionDeps;
    const session = new WsSession(socket, deps);
    const subscription = new TopicSubscription(session, "t", 1);
    subscription.joined("g1", 0);
    subscription.goLive("g1", null);
    live();
    expect(written).toEqual(["ok", "live"]);
  });
});
