import type { Member } from "./coordinator.ts";
import type { PeerClient } from "./peer/peer-client.ts";
import type { PeerEvent } from "./peer/peer-types.ts";

/** One client per live member, opened on first use and closed when the member leaves. */
export class PeerPool {
  private readonly links = new Map<string, { member: Member; client: PeerClient }>();

  constructor(private readonly connect: (member: Member) => PeerClient) {}

  get(member: Member): PeerClient {
    const known = this.links.get(member.id);
    if (known !== undefined && known.member.peerUrl === member.peerUrl) return known.client;
    known?.client.close();
    const client = this.connect(member);
    this.links.set(member.id, { member, client });
    return client;
  }

  /** Keeps clients to live members only; feeds and consumers on a departed member end (and re-route). */
  sync(members: readonly Member[]): void {
    const live = new Set(members.map((member) => member.id));
    for (const [id, { client }] of this.links) {
      if (live.has(id)) continue;
      this.links.delete(id);
      client.close();
    }
  }

  /** Tells every other live member; failures are ignored (catalog entries also expire). */
  async broadcast(members: readonly Member[], selfId: string, event: PeerEvent): Promise<void> {
    await Promise.all(
      members
        .filter((member) => member.id !== selfId)
        .map((member) =>
          this.get(member)
            .notify(event)
            .catch(() => {}),
        ),
    );
  }

  close(): void {
    for (const { client } of this.links.values()) client.close();
    this.links.clear();
  }
}
