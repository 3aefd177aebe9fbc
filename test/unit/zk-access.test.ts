import { createHash } from "node:crypto";
import { ACL, Id, Permission } from "node-zookeeper-client";
import { describe, expect, it } from "vitest";
import { digestId, parseZkAuth, sameAcl, zooKeeperAccess } from "../../src/cluster/zookeeper/zk-access.ts";

const aclText = (acls: ACL[]) => acls.map((acl) => `${acl.id.scheme}:${acl.id.id}=${acl.permission}`);

describe("zooKeeperAccess", () => {
  it("without credentials leaves every node open to anyone, as ZooKeeper does by default", () => {
    const access = zooKeeperAccess([], "/aviso");
    expect(access.credentials).toEqual([]);
    expect(access.protects("/aviso/members")).toBe(false);
    expect(aclText(access.aclFor("/aviso/members"))).toEqual([`world:anyone=${Permission.ALL}`]);
  });

  it("gives the chroot and everything below it to the credentials alone, and leaves other paths open", () => {
    const access = zooKeeperAccess(["aviso:new", "aviso:old"], "/apps/aviso");
    for (const path of ["/apps/aviso", "/apps/aviso/members", "/apps/aviso/owners/queue/q"]) {
      expect(access.protects(path), path).toBe(true);
      expect(aclText(access.aclFor(path)), path).toEqual([
        `digest:${digestId("aviso:new")}=${Permission.ALL}`,
        `digest:${digestId("aviso:old")}=${Permission.ALL}`,
      ]);
    }
    // Above the chroot, and a sibling that merely starts with the same letters.
    for (const path of ["/apps", "/apps/aviso2", "/apps/aviso2/members"]) {
      expect(access.protects(path), path).toBe(false);
      expect(aclText(access.aclFor(path)), path).toEqual([`world:anyone=${Permission.ALL}`]);
    }
  });

  it("protects the whole tree when there is no chroot", () => {
    const access = zooKeeperAccess(["aviso:pw"], "/");
    expect(access.protects("/members")).toBe(true);
    expect(access.protects("/owners/topic/t")).toBe(true);
  });
});

describe("digestId", () => {
  it("is user:base64(sha1(user:password)), ZooKeeper's digest identity", () => {
    const expected = createHash("sha1").update("aviso:p:w").digest("base64");
    expect(digestId("aviso:p:w")).toBe(`aviso:${expected}`);
    expect(() => digestId("no-colon")).toThrow(/user:password/);
    expect(() => digestId(":pw")).toThrow(/user:password/);
  });
});

describe("parseZkAuth", () => {
  it("splits the setting into credentials; unset or empty means none", () => {
    expect(parseZkAuth(undefined)).toEqual([]);
    expect(parseZkAuth("")).toEqual([]);
    expect(parseZkAuth("aviso:new,aviso:old")).toEqual(["aviso:new", "aviso:old"]);
  });
});

describe("sameAcl", () => {
  it("compares identities and permissions, not order", () => {
    const a = new ACL(Permission.ALL, new Id("digest", "a:x"));
    const b = new ACL(Permission.ALL, new Id("digest", "b:y"));
    const readOnlyB = new ACL(Permission.READ, new Id("digest", "b:y"));
    expect(sameAcl([a, b], [b, a])).toBe(true);
    expect(sameAcl([a, b], [a, readOnlyB])).toBe(false);
    expect(sameAcl([a], [a, b])).toBe(false);
    expect(sameAcl(ACL.OPEN_ACL_UNSAFE, [a])).toBe(false);
  });
});
