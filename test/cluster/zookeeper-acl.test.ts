import { createHash } from "node:crypto";
import {
  ACL,
  type Client,
  CreateMode,
  createClient,
  type ErrorArgument,
  Permission,
} from "node-zookeeper-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../../src/cluster/coordinator.ts";
import { createZooKeeperCoordinator } from "../../src/cluster/zookeeper/zookeeper-coordinator.ts";
import { startZooKeeper, type ZooKeeperEnsemble } from "../helpers/zookeeper.ts";
import { isolated, memberFor, waitFor, within } from "./fixtures/coordinator-tools.ts";

/**
 * zkAuth against a real ZooKeeper: what Aviso creates carries
 * digest(user:password) with every permission and nothing for anyone else,
 * so a second ZooKeeper user can neither read nor take over membership and
 * ownership.
 */

const sessionTimeoutMs = 1_500;
const right = "aviso:right-password";
const ids = (members: readonly { id: string }[]) => members.map((member) => member.id).sort();

/** ZooKeeper's digest id for "user:password": user:base64(sha1("user:password")). */
function digestOf(credential: string): string {
  const user = credential.slice(0, credential.indexOf(":"));
  return `${user}:${createHash("sha1").update(credential).digest("base64")}`;
}

/** A bare ZooKeeper client (another ZooKeeper user), with its calls as promises resolving to the error code or "OK". */
class RawClient {
  private readonly client: Client;

  private constructor(client: Client) {
    this.client = client;
  }

  static async connect(connectString: string, credential?: string): Promise<RawClient> {
    const client = createClient(connectString, { sessionTimeout: 4000, retries: 0 });
    if (credential !== undefined) client.addAuthInfo("digest", Buffer.from(credential));
    const connected = new Promise<void>((resolve) => client.once("connected", () => resolve()));
    client.connect();
    await within("raw client connects", connected, 10_000);
    return new RawClient(client);
  }

  create(path: string, acls: ACL[] = ACL.OPEN_ACL_UNSAFE, mode = CreateMode.PERSISTENT): Promise<string> {
    return this.outcome((done) => this.client.create(path, Buffer.from("x"), acls, mode, done));
  }

  async mkdirp(path: string): Promise<void> {
    const result = await this.outcome((done) => this.client.mkdirp(path, ACL.OPEN_ACL_UNSAFE, done));
    expect(result).toBe("OK");
  }

  remove(path: string): Promise<string> {
    return this.outcome((done) => this.client.remove(path, -1, done));
  }

  setData(path: string): Promise<string> {
    return this.outcome((done) => this.client.setData(path, Buffer.from("taken over"), -1, done));
  }

  getData(path: string): Promise<string> {
    return this.outcome((done) => this.client.getData(path, undefined, done));
  }

  setAcl(path: string): Promise<string> {
    return this.outcome((done) => this.client.setACL(path, ACL.OPEN_ACL_UNSAFE, -1, done));
  }

  /** The node's ACL as "scheme:id=perms" strings. */
  acl(path: string): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.client.getACL(path, (error, acls) => {
        if (error) reject(error);
        else resolve((acls ?? []).map((acl) => `${acl.id.scheme}:${acl.id.id}=${acl.permission}`).sort());
      });
    });
  }

  close(): void {
    this.client.close();
  }

  private outcome(start: (done: (error: ErrorArgument) => void) => void): Promise<string> {
    return new Promise((resolve) => {
      start((error) => {
        if (!error) resolve("OK");
        else
          resolve(
            "getName" in error && typeof error.getName === "function" ? error.getName() : String(error),
          );
      });
    });
  }
}

let zk: ZooKeeperEnsemble;
const open: Coordinator[] = [];
const clients: RawClient[] = [];

beforeAll(async () => {
  zk = await startZooKeeper({ servers: 1, tickTimeMs: 200 });
}, 120_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((coordinator) => coordinator.close()));
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  await zk?.stopAll();
});

async function startMember(connectString: string, id: string, auth: string[]): Promise<Coordinator> {
  const coordinator = createZooKeeperCoordinator({
    connectString,
    sessionTimeoutMs,
    self: memberFor(id),
    auth,
  });
  open.push(coordinator);
  await coordinator.start();
  return coordinator;
}

async function rawClient(credential?: string): Promise<RawClient> {
  const client = await RawClient.connect(zk.connectString, credential);
  clients.push(client);
  return client;
}

function chrootOf(connectString: string): string {
  return connectString.slice(zk.connectString.length);
}

describe("ZooKeeper digest ACLs (zkAuth)", () => {
  it("another ZooKeeper user cannot read, create, change or delete membership and ownership", async () => {
    const connectString = isolated(zk.connectString);
    const chroot = chrootOf(connectString);
    const a = await startMember(connectString, "a", [right]);
    const b = await startMember(connectString, "b", [right]);
    await waitFor(
      "both members seen",
      () => ids(a.members()).length === 2 && ids(b.members()).length === 2,
      10_000,
    );
    const lease = await a.acquire("queue", "orders");
    expect(await b.holderOf("queue", "orders")).toBe("a");

    const ours = [`digest:${digestOf(right)}=${Permission.ALL}`];
    const admin = await rawClient(right);
    for (const path of [
      chroot,
      `${chroot}/members`,
      `${chroot}/members/a`,
      `${chroot}/owners`,
      `${chroot}/owners/queue`,
      `${chroot}/owners/topic`,
      `${chroot}/owners/queue/orders`,
    ]) {
      expect(await admin.acl(path), path).toEqual(ours);
    }

    for (const intruder of [await rawClient(), await rawClient("aviso:wrong-password")]) {
      expect(await intruder.create(`${chroot}/members/evil`, ACL.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL)).toBe(
        "NO_AUTH",
      );
      expect(await intruder.create(`${chroot}/owners/queue/payments`)).toBe("NO_AUTH");
      expect(await intruder.create(`${chroot}/owners/other`)).toBe("NO_AUTH");
      expect(await intruder.remove(`${chroot}/members/b`)).toBe("NO_AUTH");
      expect(await intruder.remove(`${chroot}/owners/queue/orders`)).toBe("NO_AUTH");
      expect(await intruder.remove(`${chroot}/owners/topic`)).toBe("NO_AUTH");
      expect(await intruder.setData(`${chroot}/members/a`)).toBe("NO_AUTH");
      expect(await intruder.setData(`${chroot}/owners/queue/orders`)).toBe("NO_AUTH");
      expect(await intruder.getData(`${chroot}/members/a`)).toBe("NO_AUTH");
      expect(await intruder.getData(`${chroot}/owners/queue/orders`)).toBe("NO_AUTH");
      expect(await intruder.setAcl(`${chroot}/members`)).toBe("NO_AUTH");
      expect(await intruder.setAcl(chroot)).toBe("NO_AUTH");
    }

    // The refusals are about the credentials: the right ones may do the same.
    expect(await admin.create(`${chroot}/owners/topic/probe`)).toBe("OK");
    expect(await admin.remove(`${chroot}/owners/topic/probe`)).toBe("OK");
    // And the members run as before: leases move, the membership holds.
    await a.release(lease);
    const taken = await b.acquire("queue", "orders");
    expect(await a.holderOf("queue", "orders")).toBe("b");
    await b.release(taken);
    expect(ids(a.members())).toEqual(["a", "b"]);
    expect(ids(b.members())).toEqual(["a", "b"]);
  });

  it("takes back the chroot and parents that someone created open before the first node started", async () => {
    const connectString = isolated(zk.connectString);
    const chroot = chrootOf(connectString);
    const squatter = await rawClient();
    await squatter.mkdirp(`${chroot}/members`);
    await squatter.mkdirp(`${chroot}/owners/queue`);

    const a = await startMember(connectString, "a", [right]);
    expect(ids(a.members())).toEqual(["a"]);
    const admin = await rawClient(right);
    const ours = [`digest:${digestOf(right)}=${Permission.ALL}`];
    for (const path of [chroot, `${chroot}/members`, `${chroot}/owners`, `${chroot}/owners/queue`]) {
      expect(await admin.acl(path), path).toEqual(ours);
    }
    // Shared parents above the chroot stay open: they are not Aviso's.
    const above = chroot.slice(0, chroot.lastIndexOf("/"));
    expect(await admin.acl(above)).toEqual([`world:anyone=${Permission.ALL}`]);
    expect(await squatter.create(`${chroot}/members/evil`)).toBe("NO_AUTH");
  });

  it("refuses to start with wrong credentials, and without any, against a protected cluster", async () => {
    const connectString = isolated(zk.connectString);
    await startMember(connectString, "a", [right]);
    for (const auth of [["aviso:wrong-password"], []]) {
      const outsider = createZooKeeperCoordinator({
        connectString,
        sessionTimeoutMs,
        self: memberFor("outsider"),
        auth,
      });
      open.push(outsider);
      await expect(outsider.start()).rejects.toMatchObject({ code: "NO_AUTH" });
    }
  });

  it("rotates the password without stopping the cluster: old, old+new, then new credentials", async () => {
    const connectString = isolated(zk.connectString);
    const chroot = chrootOf(connectString);
    const oldCredential = "aviso:old-password";
    const newCredential = "aviso:new-password";
    const a = await startMember(connectString, "a", [oldCredential]);
    // Step 1: restart nodes one by one with "new,old".
    const b = await startMember(connectString, "b", [newCredential, oldCredential]);
    await waitFor(
      "a and b see each other",
      () => ids(a.members()).length === 2 && ids(b.members()).length === 2,
      10_000,
    );
    const admin = await rawClient(newCredential);
    expect(await admin.acl(`${chroot}/members`)).toEqual(
      [
        `digest:${digestOf(newCredential)}=${Permission.ALL}`,
        `digest:${digestOf(oldCredential)}=${Permission.ALL}`,
      ].sort(),
    );
    // Step 2: restart them one by one with "new" only.
    await a.close();
    const c = await startMember(connectString, "c", [newCredential]);
    await waitFor(
      "b and c see each other",
      () => ids(b.members()).join() === "b,c" && ids(c.members()).join() === "b,c",
      10_000,
    );
    expect(await admin.acl(`${chroot}/members`)).toEqual([
      `digest:${digestOf(newCredential)}=${Permission.ALL}`,
    ]);
    const lease = await c.acquire("topic", "news");
    expect(await b.holderOf("topic", "news")).toBe("c");
    await c.release(lease);
    const old = await rawClient(oldCredential);
    expect(await old.create(`${chroot}/members/evil`)).toBe("NO_AUTH");
  });
});
