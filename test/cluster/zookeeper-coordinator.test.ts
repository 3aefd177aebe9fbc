import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CoordinatorClosedError, type Lease } from "../../src/cluster/coordinator.ts";
import { decodeSegment, encodeSegment, parseConnectString } from "../../src/cluster/zookeeper/zk-paths.ts";
import { createZooKeeperCoordinator } from "../../src/cluster/zookeeper/zookeeper-coordinator.ts";
import { startZooKeeper, type ZooKeeperEnsemble } from "../helpers/zookeeper.ts";
import {
  CoordinatorPool,
  isolated,
  type MemberProcess,
  recordStatus,
  sessionEvents,
  spawnMemberProcess,
  waitFor,
  within,
} from "./fixtures/coordinator-tools.ts";

/** Short sessions keep the suite fast; the servers run with tickTime 200 ms (minimum session 400 ms). */
const sessionTimeoutMs = 1_500;
const measurements: Record<string, number | string> = {};

const ids = (members: readonly { id: string }[]) => members.map((member) => member.id);

afterAll(() => {
  // Numbers for the record (docs, reports); the assertions above bound them.
  console.log(`[measurements] ${JSON.stringify(measurements)}`);
});

describe("zk-paths", () => {
  it("encodes '.', '..', '/' and non-ASCII names into legal, reversible znode names", () => {
    for (const name of [".", "..", "...", "a.b", "-x_y.z", "a/b", "ü", "%2E"]) {
      const segment = encodeSegment(name);
      expect(segment).not.toMatch(/^\.{1,2}$/);
      expect(segment).not.toContain("/");
      expect(segment).toMatch(/^[\x21-\x7e]+$/);
      expect(decodeSegment(segment)).toBe(name);
    }
    expect(encodeSegment(".")).not.toBe(encodeSegment("%2E"));
    expect(() => encodeSegment("")).toThrow(/empty/);
  });

  it("splits a connect string into hosts and chroot and rejects bad ones", () => {
    expect(parseConnectString("127.0.0.1:2181,127.0.0.1:2182/aviso/prod")).toEqual({
      hosts: "127.0.0.1:2181,127.0.0.1:2182",
      chroot: "/aviso/prod",
    });
    expect(parseConnectString("zk:2181")).toEqual({ hosts: "zk:2181", chroot: "" });
    expect(() => parseConnectString("/only-chroot")).toThrow(/names no server/);
    expect(() => parseConnectString("zk:99999")).toThrow(/bad port/);
    expect(() => parseConnectString("zk:2181/a/../b")).toThrow(/relative/);
  });
});

describe("ZooKeeperCoordinator on one server", () => {
  let zk: ZooKeeperEnsemble;
  const pool = new CoordinatorPool();
  const processes: MemberProcess[] = [];

  beforeAll(async () => {
    zk = await startZooKeeper({ servers: 1, tickTimeMs: 200 });
  }, 120_000);
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((member) => member.stop()));
    await pool.closeAll();
  });
  afterAll(async () => {
    await zk?.stopAll();
  });

  it("lists live members sorted by id and drops one that closes well within a second", async () => {
    const connect = isolated(zk.connectString);
    const c = await pool.start(connect, "c", sessionTimeoutMs);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const b = await pool.start(connect, "b", sessionTimeoutMs);
    for (const coordinator of [a, b, c]) {
      await waitFor("three members", () => coordinator.members().length === 3, 5_000);
      expect(ids(coordinator.members())).toEqual(["a", "b", "c"]);
    }
    expect(a.members()[1]).toEqual({
      id: "b",
      httpUrl: "http://b.invalid:8080",
      peerUrl: "http://b.invalid:9090",
    });
    const statuses = recordStatus(a);
    const closedAtMs = performance.now();
    await b.close();
    await waitFor("b to leave", () => !ids(a.members()).includes("b"), 5_000);
    const goneMs = performance.now() - closedAtMs;
    measurements.gracefulLeaveMs = Math.round(goneMs);
    // Closed, not expired: gone well before a session timeout could have passed.
    expect(goneMs).toBeLessThan(sessionTimeoutMs);
    await waitFor("c to see b leave", () => c.members().length === 2, 1_000);
    expect(ids(c.members())).toEqual(["a", "c"]);
    expect(statuses.some((status) => status.type === "members")).toBe(true);
  }, 20_000);

  it("hands a lease over: acquire waits while another node holds it and gets it right after release", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const b = await pool.start(connect, "b", sessionTimeoutMs);
    const leaseA = await a.acquire("queue", "orders");
    expect(leaseA.held).toBe(true);
    expect(await a.holderOf("queue", "orders")).toBe("a");
    let acquiredAtMs = 0;
    const waiting = b.acquire("queue", "orders").then((lease) => {
      acquiredAtMs = performance.now();
      return lease;
    });
    // Several round trips later b must still be waiting.
    for (let round = 0; round < 5; round++) expect(await b.holderOf("queue", "orders")).toBe("a");
    expect(acquiredAtMs).toBe(0);
    const releasedAtMs = performance.now();
    await a.release(leaseA);
    const leaseB = await within("b to take the lease", waiting, 5_000);
    const handoverMs = acquiredAtMs - releasedAtMs;
    measurements.handoverMs = Math.round(handoverMs * 10) / 10;
    expect(leaseA.held).toBe(false);
    expect(leaseB.held).toBe(true);
    expect(await a.holderOf("queue", "orders")).toBe("b");
    expect(await a.holderOf("topic", "orders")).toBeUndefined();
    // Acquiring what one already holds returns the same lease.
    expect(await b.acquire("queue", "orders")).toBe(leaseB);
  }, 20_000);

  it("drops a killed member after about the session timeout and passes its lease to a waiter", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const member = await spawnMemberProcess({
      connectString: connect,
      sessionTimeoutMs,
      id: "killed",
      leases: [{ kind: "topic", name: "prices" }],
    });
    processes.push(member);
    await waitFor("the member process to be listed", () => ids(a.members()).includes("killed"), 5_000);
    expect(await a.holderOf("topic", "prices")).toBe("killed");
    let acquiredAtMs = 0;
    const waiting = a.acquire("topic", "prices").then((lease) => {
      acquiredAtMs = performance.now();
      return lease;
    });
    const killedAtMs = performance.now();
    member.signal("SIGKILL");
    await waitFor("the killed member to vanish", () => !ids(a.members()).includes("killed"), 10_000);
    const vanishedMs = performance.now() - killedAtMs;
    const lease = await within("the lease to pass to the waiter", waiting, 10_000);
    measurements.killedMemberVanishMs = Math.round(vanishedMs);
    measurements.killedHolderLeaseTakeoverMs = Math.round(acquiredAtMs - killedAtMs);
    // Gone by expiry, not at once as after close (how much later is measured, not asserted: a loaded
    // machine only makes it later, and the waits above bound it).
    expect(vanishedMs).toBeGreaterThan(sessionTimeoutMs / 3);
    expect(lease.held).toBe(true);
    expect(await a.holderOf("topic", "prices")).toBe("a");
  }, 30_000);

  it("agrees on servingNodeOf across three members and moves only the leaving member's resources", async () => {
    const connect = isolated(zk.connectString);
    const members = await Promise.all(
      ["n1", "n2", "n3"].map((id) => pool.start(connect, id, sessionTimeoutMs)),
    );
    for (const coordinator of members)
      await waitFor("three members", () => coordinator.members().length === 3, 5_000);
    const names = Array.from({ length: 300 }, (_, index) => `queue-${index}`);
    const servingNodes = names.map((name) =>
      members.map((coordinator) => coordinator.servingNodeOf("queue", name).id),
    );
    for (const perNode of servingNodes) expect(new Set(perNode).size).toBe(1);
    const before = servingNodes.map((perNode) => perNode[0]);
    for (const id of ["n1", "n2", "n3"])
      expect(before.filter((owner) => owner === id).length).toBeGreaterThan(60);

    const [n1, n2, n3] = members;
    if (n1 === undefined || n2 === undefined || n3 === undefined)
      throw new Error("three coordinators expected");
    await n3.close();
    await waitFor("n3 to leave", () => n1.members().length === 2 && n2.members().length === 2, 5_000);
    for (const [index, name] of names.entries()) {
      const after = n1.servingNodeOf("queue", name).id;
      expect(n2.servingNodeOf("queue", name).id).toBe(after);
      if (before[index] !== "n3") expect(after).toBe(before[index]);
    }
  }, 20_000);

  it("waits out the session of a crashed earlier run with the same id before registering", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const crashed = await spawnMemberProcess({
      connectString: connect,
      sessionTimeoutMs,
      id: "phoenix",
      leases: [{ kind: "queue", name: "ashes" }],
    });
    processes.push(crashed);
    crashed.signal("SIGKILL");
    const restartedAtMs = performance.now();
    const phoenix = await pool.start(connect, "phoenix", sessionTimeoutMs);
    const registeredMs = performance.now() - restartedAtMs;
    measurements.sameIdRestartWaitMs = Math.round(registeredMs);
    // Not before the old session expired (its node blocked ours); how much later is measured only.
    expect(registeredMs).toBeGreaterThan(sessionTimeoutMs / 3);
    expect(await a.holderOf("queue", "ashes")).toBeUndefined();
    const lease = await within(
      "the restarted node to claim its lease",
      phoenix.acquire("queue", "ashes"),
      5_000,
    );
    expect(lease.held).toBe(true);
    await waitFor("phoenix listed once", () => ids(a.members()).join() === "a,phoenix", 5_000);
  }, 20_000);

  it("fails start() clearly when no server answers in time", async () => {
    const unreachable = createZooKeeperCoordinator({
      connectString: "127.0.0.1:1/nowhere",
      sessionTimeoutMs,
      self: { id: "lonely", httpUrl: "http://x.invalid", peerUrl: "http://x.invalid" },
      startTimeoutMs: 500,
    });
    await expect(unreachable.start()).rejects.toThrow(
      /CONNECTION_LOSS.*no server of 127\.0\.0\.1:1 answered/,
    );
    await expect(unreachable.acquire("queue", "q")).rejects.toBeInstanceOf(CoordinatorClosedError);
    await unreachable.close();
  }, 10_000);

  it("rejects a waiting acquire when its signal aborts or the coordinator closes", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const b = await pool.start(connect, "b", sessionTimeoutMs);
    await a.acquire("queue", "busy");
    const controller = new AbortController();
    const aborted = b.acquire("queue", "busy", controller.signal);
    controller.abort(new Error("caller gave up"));
    await expect(within("abort", aborted, 2_000)).rejects.toThrow("caller gave up");
    const closing = b.acquire("queue", "busy");
    await b.close();
    await expect(within("close", closing, 2_000)).rejects.toBeInstanceOf(CoordinatorClosedError);
    await expect(b.acquire("queue", "other")).rejects.toBeInstanceOf(CoordinatorClosedError);
  }, 20_000);

  it("keeps names like '.', '..' and '-' distinct and usable as leases", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "node.1", sessionTimeoutMs);
    const b = await pool.start(connect, "..", sessionTimeoutMs);
    await waitFor("both members", () => a.members().length === 2, 5_000);
    expect(ids(a.members()).sort()).toEqual(["..", "node.1"]);
    await a.acquire("queue", ".");
    await b.acquire("queue", "..");
    await b.acquire("topic", ".");
    await a.acquire("topic", "a.b-c_d");
    expect(await b.holderOf("queue", ".")).toBe("node.1");
    expect(await a.holderOf("queue", "..")).toBe("..");
    expect(await a.holderOf("topic", ".")).toBe("..");
    expect(await a.holderOf("topic", "a.b-c_d")).toBe("node.1");
    expect(await a.holderOf("topic", "..")).toBeUndefined();
  }, 20_000);

  it("keeps the leases while the server is silent, loses them all at once after the session timeout, then claims them again", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const statuses = recordStatus(a);
    const leases = await Promise.all(["q1", "q2", "q3"].map((name) => a.acquire("queue", name)));
    const lostAtMs: number[] = [];
    for (const lease of leases) lease.onLost(() => lostAtMs.push(performance.now()));
    const pausedAtMs = performance.now();
    zk.pause(0);
    let resumed = false;
    try {
      await waitFor("disconnected", () => statuses.some((status) => status.type === "disconnected"), 5_000);
      const detectedMs = (statuses.find((status) => status.type === "disconnected")?.atMs ?? 0) - pausedAtMs;
      measurements.disconnectDetectMs = Math.round(detectedMs);
      expect(detectedMs).toBeLessThan(sessionTimeoutMs);
      // A lost link is not a lost session: the leases are kept while it may live.
      expect(lostAtMs).toHaveLength(0);
      expect(leases.every((lease) => lease.held)).toBe(true);
      await waitFor("lost", () => statuses.some((status) => status.type === "lost"), 5_000);
      const lostMs = (statuses.find((status) => status.type === "lost")?.atMs ?? 0) - pausedAtMs;
      measurements.leasesLostAfterPauseMs = Math.round(lostMs);
      expect(lostMs).toBeGreaterThanOrEqual(detectedMs);
      expect(lostAtMs).toHaveLength(3);
      expect(leases.every((lease) => !lease.held)).toBe(true);
      // Asked while disconnected: must wait for the link, then adopt or re-create q1.
      const reacquiring = a.acquire("queue", "q1");
      zk.resume(0);
      resumed = true;
      const again = await within("q1 again after the server resumed", reacquiring, 10_000);
      expect(again.held).toBe(true);
      expect(again).not.toBe(leases[0]);
      const events = sessionEvents(statuses);
      expect(events[0]).toBe("disconnected");
      expect([
        ["disconnected", "lost", "connected"],
        ["disconnected", "lost", "expired", "reconnected"],
      ]).toContainEqual(events);
      measurements.afterServerPause = events.join(">");
      // q2 was not asked for again: another node can have it.
      const b = await pool.start(connect, "b", sessionTimeoutMs);
      const q2 = await within("b to claim q2", b.acquire("queue", "q2"), 5_000);
      expect(q2.held).toBe(true);
      expect(await b.holderOf("queue", "q1")).toBe("a");
    } finally {
      if (!resumed) zk.resume(0);
    }
  }, 30_000);

  it("no longer trusts its leases once its own process was stalled past the session timeout, before any timer ran", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const statuses = recordStatus(a);
    const lease = await a.acquire("queue", "stalled");
    expect(a.leasesTrusted()).toBe(true);
    // The event loop is held (as by SIGSTOP mid-I/O): no timer, no socket callback runs meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, sessionTimeoutMs + 300);
    // Asked before anything else ran: untrusted, and the lease is gone at once, as on "lost".
    expect(a.leasesTrusted()).toBe(false);
    expect(lease.held).toBe(false);
    expect(sessionEvents(statuses)).toEqual(["disconnected", "lost"]);
    // It comes back on its own (same session, or a new one) and can own again.
    const again = await within("the lease again after the stall", a.acquire("queue", "stalled"), 10_000);
    expect(again.held).toBe(true);
    expect(a.leasesTrusted()).toBe(true);
  }, 30_000);

  it("tells a paused member that its session expired, and re-registers it under a new session", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const member = await spawnMemberProcess({
      connectString: connect,
      sessionTimeoutMs,
      id: "sleeper",
      leases: [{ kind: "queue", name: "work" }],
    });
    processes.push(member);
    await waitFor("sleeper to be listed", () => ids(a.members()).includes("sleeper"), 5_000);
    const takeover = a.acquire("queue", "work");
    member.signal("SIGSTOP");
    let continued = false;
    try {
      const lease: Lease = await within("a to take over the paused member's lease", takeover, 10_000);
      expect(lease.held).toBe(true);
      await waitFor("sleeper to be dropped", () => !ids(a.members()).includes("sleeper"), 5_000);
      member.signal("SIGCONT");
      continued = true;
      await member.waitForEvent("reconnected", (event) => event.status === "reconnected", 10_000);
      const events = member.events.filter((event) => event.event === "status" || event.event === "lost");
      const order = events.map((event) => (event.event === "lost" ? "lease lost" : event.status));
      // Woken past its session timeout, it gives the lease up before anything else.
      expect(order.indexOf("lease lost")).toBeGreaterThanOrEqual(0);
      expect(order.indexOf("lease lost")).toBeLessThan(order.indexOf("disconnected"));
      expect(order.indexOf("disconnected")).toBeLessThan(order.indexOf("expired"));
      expect(order.indexOf("expired")).toBeLessThan(order.indexOf("reconnected"));
      await waitFor("sleeper to be listed again", () => ids(a.members()).includes("sleeper"), 5_000);
      // The stale owner asks for its lease again: it must wait, a keeps it.
      const acquiredBefore = member.events.filter((event) => event.event === "acquired").length;
      member.send({ op: "acquire", kind: "queue", name: "work" });
      expect(await a.holderOf("queue", "work")).toBe("a");
      await a.release(lease);
      await member.waitForEvent(
        "sleeper to get the lease back",
        () => member.events.filter((event) => event.event === "acquired").length > acquiredBefore,
        5_000,
      );
      expect(await a.holderOf("queue", "work")).toBe("sleeper");
    } finally {
      if (!continued) member.signal("SIGCONT");
    }
  }, 30_000);

  it("comes back after the server is killed and restarted with the same data", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", sessionTimeoutMs);
    const b = await pool.start(connect, "b", sessionTimeoutMs);
    const statusesA = recordStatus(a);
    const statusesB = recordStatus(b);
    const iterated: string[] = [];
    const iterating = (async () => {
      for await (const status of a.status()) {
        iterated.push(status.type);
        if (status.type === "connected" || status.type === "reconnected") break;
      }
    })();
    const lease = await a.acquire("topic", "events");
    let lost = false;
    lease.onLost(() => {
      lost = true;
    });
    await zk.kill(0);
    await waitFor("a disconnected", () => statusesA.some((status) => status.type === "disconnected"), 5_000);
    // With no server to reconnect to, the lease goes once the session could have expired.
    await waitFor("a's lease lost", () => lost, 5_000);
    expect(statusesA.map((status) => status.type)).toContain("lost");
    const restartedAtMs = performance.now();
    await zk.restart(0);
    const back = (events: string[]) => events.includes("connected") || events.includes("reconnected");
    await waitFor(
      "both back",
      () => back(sessionEvents(statusesA)) && back(sessionEvents(statusesB)),
      15_000,
    ).catch((error: unknown) => {
      throw new Error(`${error}; a saw ${sessionEvents(statusesA)}, b saw ${sessionEvents(statusesB)}`);
    });
    measurements.backAfterServerRestartMs = Math.round(performance.now() - restartedAtMs);
    measurements.afterServerRestart = sessionEvents(statusesA).join(">");
    await within("the status iterator to see a come back", iterating, 1_000);
    expect(iterated.filter((type) => type !== "members")[0]).toBe("disconnected");
    const again = await within("a to claim events again", a.acquire("topic", "events"), 10_000);
    expect(again.held).toBe(true);
    expect(await b.holderOf("topic", "events")).toBe("a");
    await waitFor("both members listed", () => b.members().length === 2 && a.members().length === 2, 5_000);
  }, 60_000);
});

describe("ZooKeeperCoordinator on a 3-server ensemble", () => {
  let zk: ZooKeeperEnsemble;
  const pool = new CoordinatorPool();
  const ensembleSessionMs = 3_000;

  beforeAll(async () => {
    zk = await startZooKeeper({ servers: 3, tickTimeMs: 200 });
  }, 120_000);
  afterEach(async () => {
    await pool.closeAll();
  });
  afterAll(async () => {
    await zk?.stopAll();
  });

  it("keeps members and leases working when the leader is killed", async () => {
    const connect = isolated(zk.connectString);
    const a = await pool.start(connect, "a", ensembleSessionMs);
    const b = await pool.start(connect, "b", ensembleSessionMs);
    const statusesA = recordStatus(a);
    const before = await a.acquire("queue", "before");
    let lostBefore = 0;
    before.onLost(() => lostBefore++);
    const modes = await Promise.all([0, 1, 2].map((index) => zk.mode(index)));
    const leader = modes.indexOf("leader");
    expect(leader).toBeGreaterThanOrEqual(0);
    const killedAtMs = performance.now();
    await zk.kill(leader);
    const others = [0, 1, 2].filter((index) => index !== leader);
    await waitFor(
      "a new leader",
      async () => (await Promise.all(others.map((index) => zk.mode(index)))).includes("leader"),
      15_000,
    );
    measurements.ensembleNewLeaderMs = Math.round(performance.now() - killedAtMs);
    const lease = await within("b to claim a lease after the failover", b.acquire("queue", "after"), 15_000);
    expect(lease.held).toBe(true);
    // The leader change is a lost link, not a lost session: a kept its lease all along.
    const claimed = await within("a to hold 'before' still", a.acquire("queue", "before"), 15_000);
    expect(claimed).toBe(before);
    expect([before.held, lostBefore]).toEqual([true, 0]);
    expect(sessionEvents(statusesA)).not.toContain("lost");
    expect(sessionEvents(statusesA)).not.toContain("expired");
    expect(await b.holderOf("queue", "before")).toBe("a");
    await waitFor("both members listed", () => a.members().length === 2 && b.members().length === 2, 10_000);
    measurements.ensembleLeaderKill = sessionEvents(statusesA).join(">") || "no interruption";
    measurements.ensembleRecoveredMs = Math.round(performance.now() - killedAtMs);
  }, 60_000);
});
