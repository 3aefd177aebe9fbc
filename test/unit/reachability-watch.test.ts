import { describe, expect, it } from "vitest";
import type { Member } from "../../src/cluster/coordinator.ts";
import type { ProbeVerdict } from "../../src/cluster/peer/peer-probe.ts";
import { ReachabilityWatch } from "../../src/cluster/reachability-watch.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";

const member = (id: string): Member => ({ id, httpUrl: `http://${id}`, peerUrl: `${id}:1` });

function watched(verdicts: Record<string, ProbeVerdict>) {
  const clock = new ManualClock();
  const reports: string[] = [];
  const probed: string[] = [];
  const members = [member("A"), member("B"), member("C")];
  const watch = new ReachabilityWatch({
    self: () => "A",
    members: () => members,
    probe: async (peerUrl) => {
      probed.push(peerUrl);
      return verdicts[peerUrl.split(":")[0] as string] ?? "answered";
    },
    report: async (memberId, refused) => {
      reports.push(`${memberId} ${refused ? "refused" : "answers"}`);
    },
    clock,
    intervalMs: 200,
    onError: (error) => {
      throw error;
    },
  });
  return { clock, reports, probed, watch, members };
}

describe("ReachabilityWatch", () => {
  it("probes every other member each interval and reports a refused port every round", async () => {
    const { clock, reports, probed, watch } = watched({ B: "refused" });
    watch.start();
    clock.advance(199);
    await settle();
    expect(probed).toEqual([]);
    clock.advance(1);
    await settle();
    expect(probed).toEqual(["B:1", "C:1"]);
    expect(reports).toEqual(["B refused"]);
    clock.advance(200);
    await settle();
    expect(reports).toEqual(["B refused", "B refused"]);
    watch.stop();
    clock.advance(1000);
    await settle();
    expect(probed).toHaveLength(4);
  });

  it("withdraws a report once the port answers, and never reports a silent port", async () => {
    const verdicts: Record<string, ProbeVerdict> = { B: "refused", C: "silent" };
    const { reports, watch } = watched(verdicts);
    await watch.round();
    verdicts.B = "silent";
    await watch.round();
    verdicts.B = "answered";
    await watch.round();
    await watch.round();
    expect(reports).toEqual(["B refused", "B answers"]);
  });

  it("withdraws its report about a member that left (evicted, or its session expired)", async () => {
    const { reports, watch, members } = watched({ B: "refused" });
    await watch.round();
    members.splice(1, 1);
    await watch.round();
    await watch.round();
    expect(reports).toEqual(["B refused", "B answers"]);
  });
});
