import { describe, expect, it } from "vitest";
import { withCreator } from "../../clients/js/src/api/resource-api.ts";

describe("SDK views: creator", () => {
  it("keeps a view that names its creator as it came", () => {
    const view = { name: "jobs", creator: "alice", owner: "alice" };
    expect(withCreator(view)).toBe(view);
  });

  it("reads creator from owner when an older server sends only owner", () => {
    expect(withCreator({ name: "jobs", owner: "alice" })).toEqual({
      name: "jobs",
      owner: "alice",
      creator: "alice",
    });
  });

  it("leaves a view without either (the creator is hidden from the caller) without them", () => {
    const hidden: { name: string; creator?: string } = { name: "jobs" };
    expect(withCreator(hidden)).toEqual({ name: "jobs" });
  });
});
