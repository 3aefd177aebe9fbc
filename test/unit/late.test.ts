import { describe, expect, it } from "vitest";
import { Late } from "../../src/node/late.ts";

describe("Late (startup wiring)", () => {
  it("gives the value once set", () => {
    const owners = new Late<string>("owners");
    owners.set("cluster owners");
    expect(owners.get()).toBe("cluster owners");
  });

  it("names the value read before it was built", () => {
    expect(() => new Late<number>("services").get()).toThrow(/services was read before it was built/);
  });

  it("refuses a second value", () => {
    const cluster = new Late<number>("cluster");
    cluster.set(1);
    expect(() => cluster.set(2)).toThrow(/cluster was set twice/);
    expect(cluster.get()).toBe(1);
  });
});
