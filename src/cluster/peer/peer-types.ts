import type { ServingNodes } from "../../app/serving-nodes.ts";
import type { ResourceKind } from "../../broker/types.ts";
import type { AvisoError } from "../../errors/aviso-error.ts";

/** A node telling a peer that something changed (cache invalidation, hand-offs). */
export type PeerEvent =
  /** A definition changed or was deleted: drop cached copies. */
  | { type: "changed"; kind: ResourceKind; name: string }
  /** A user's tokens were revoked: drop the cached token version, close revoked sockets. */
  | { type: "userRevoked"; username: string }
  | { type: "bindingCreated"; topic: string; queue: string }
  | { type: "bindingRemoved"; topic: string; queue: string }
  /** Stop serving a resource here (deleted, or ownership handed over). */
  | { type: "release"; kind: ResourceKind; name: string; reason: AvisoError };

/**
 * What the peer server serves. The routing layer supplies it: `servingNodes`
 * decides whether this node serves the resource (and refuses or forwards if
 * not); the server only translates calls.
 */
export interface PeerHandler {
  servingNodes: ServingNodes;
  notify(event: PeerEvent): Promise<void>;
}

/** PEM material for mutual TLS: own certificate and key, and the CA that signed every node's certificate. */
export interface PeerTls {
  cert: Buffer | string;
  key: Buffer | string;
  ca: Buffer | string;
}
