import { readFileSync } from "node:fs";
import type { Catalog } from "../app/catalog.ts";
import type { ClusterInfo } from "../app/cluster-info.ts";
import type { EngineHost } from "../app/engine-host.ts";
import { createLocalServingNodes } from "../app/local-serving-nodes.ts";
import type { UserDirectory } from "../app/user-directory.ts";
import type { ResourceKind } from "../broker/types.ts";
import type { Config } from "../config/schema.ts";
import { AvisoError } from "../errors/aviso-error.ts";
import { logEvents } from "../log/events.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../shared/clock.ts";
import type { GroupCommitter } from "../store/group-commit.ts";
import { ClusterServingNodes } from "./cluster-serving-nodes.ts";
import type { Coordinator, CoordinatorStatus, Member } from "./coordinator.ts";
import { applyMembership } from "./membership-change.ts";
import { Ownership } from "./ownership.ts";
import { createPeerClient } from "./peer/peer-client.ts";
import { probePeerPort } from "./peer/peer-probe.ts";
import { type RunningPeerServer, startPeerServer } from "./peer/peer-server.ts";
import type { PeerEvent, PeerTls } from "./peer/peer-types.ts";
import { PeerPool } from "./peer-pool.ts";
import { ReachabilityWatch } from "./reachability-watch.ts";
import { parseZkAuth } from "./zookeeper/zk-access.ts";
import { createZooKeeperCoordinator } from "./zookeeper/zookeeper-coordinator.ts";

/** The settings a cluster member reads. */
export type ClusterSettings = Pick<
  Config,
  | "host"
  | "zk"
  | "zkSessionTimeoutMs"
  | "zkAuth"
  | "peerPort"
  | "clusterSecret"
  | "peerTlsCa"
  | "peerTlsCert"
  | "peerTlsKey"
  | "peerFeedMaxQueuedEvents"
  | "peerProbeIntervalMs"
  | "peerProbeTimeoutMs"
>;

export interface ClusterRuntimeDeps {
  config: ClusterSettings;
  host: EngineHost;
  committer: GroupCommitter;
  catalog: Catalog;
  userDirectory: UserDirectory;
  clock: Clock;
  log: Logger;
}

/**
 * Everything a cluster node has that a standalone one does not: the peer
 * gRPC server, ZooKeeper membership and leases, and the serving-node routing
 * each call to the node serving the resource. Built before the HTTP server
 * (engines need `mayOwn`), joined after it (members advertise their URLs).
 */
export class ClusterRuntime {
  readonly servingNodes: ClusterServingNodes;
  private coordinator: Coordinator | null = null;
  private readonly ownership: Ownership;
  private peerServer: RunningPeerServer | null = null;
  private readonly peers: PeerPool;
  /** Mutual TLS material for the peer link, read once at start; undefined = plaintext. */
  private readonly peerTls: PeerTls | undefined;
  private connected = false;
  private stopStatus: () => void = () => {};
  private reachability: ReachabilityWatch | null = null;

  constructor(private readonly deps: ClusterRuntimeDeps) {
    const { config } = deps;
    const clusterSecret = config.clusterSecret as string;
    this.peerTls = peerTlsOf(config);
    const tls = this.peerTls;
    this.peers = new PeerPool((member) => createPeerClient({ peerUrl: member.peerUrl, clusterSecret, tls }));
    const coordinatorNow = (): Coordinator => {
      if (this.coordinator === null)
        throw new AvisoError("NOT_READY", "This node has not joined its cluster yet.");
      return this.coordinator;
    };
    const acquireTimeoutMs = config.zkSessionTimeoutMs * 2 + 5000;
    this.ownership = new Ownership(coordinatorNow, deps.host, deps.committer, deps.clock, acquireTimeoutMs, {
      acquired: (kind, name) => logEvents.ownershipAcquired(deps.log, { kind, name }),
      released: (kind, name, why) => logEvents.ownershipReleased(deps.log, { kind, name, why }),
    });
    this.servingNodes = new ClusterServingNodes(
      coordinatorNow,
      this.ownership,
      createLocalServingNodes(deps.host),
      this.peers,
      deps.clock,
      { routeTimeoutMs: acquireTimeoutMs + 5000 },
    );
    deps.catalog.onChanged((kind, name) => this.servingNodes.broadcast({ type: "changed", kind, name }));
    deps.userDirectory.onRevokedHere((username) =>
      this.servingNodes.broadcast({ type: "userRevoked", username }),
    );
  }

  /** Engines may load a resource only while this node holds its lease. */
  mayOwn(kind: ResourceKind, name: string): boolean {
    return this.ownership.holds(kind, name);
  }

  /** The member that owns a resource by rendezvous over the live members (where requests for it are routed). */
  locate(kind: ResourceKind, name: string): Member {
    if (this.coordinator === null) throw new AvisoError("NOT_READY", "Not connected to ZooKeeper.");
    return this.coordinator.servingNodeOf(kind, name);
  }

  get isReady(): boolean {
    return this.connected;
  }

  /** Starts the peer server; returns its port (advertised in the member record). */
  async listenPeers(): Promise<number> {
    const { config, log } = this.deps;
    this.peerServer = await startPeerServer({
      host: config.host,
      port: config.peerPort,
      clusterSecret: config.clusterSecret as string,
      handler: { servingNodes: this.servingNodes.servedHere(), notify: (event) => this.onPeerEvent(event) },
      tls: this.peerTls,
      log,
      feedMaxQueuedEvents: config.peerFeedMaxQueuedEvents,
    });
    return this.peerServer.port;
  }

  /** Joins the cluster as `self`; resolves once registered and the member list is loaded. */
  async join(self: Member): Promise<void> {
    const { config, log } = this.deps;
    const coordinator = createZooKeeperCoordinator({
      connectString: config.zk as string,
      sessionTimeoutMs: config.zkSessionTimeoutMs,
      auth: parseZkAuth(config.zkAuth),
      self,
      logger: log,
    });
    this.coordinator = coordinator;
    this.stopStatus = coordinator.onStatus((status) => this.onStatus(status));
    await coordinator.start();
    this.connected = true;
    this.peers.sync(coordinator.members());
    this.reachability = new ReachabilityWatch({
      self: () => coordinator.self.id,
      members: () => coordinator.members(),
      probe: (peerUrl) => probePeerPort(peerUrl, config.peerProbeTimeoutMs),
      report: (memberId, refused) => coordinator.reportUnreachable(memberId, refused),
      clock: this.deps.clock,
      intervalMs: config.peerProbeIntervalMs,
      onError: (err) => logEvents.unexpectedError(log, { context: "probing peers", err }),
    });
    this.reachability.start();
  }

  info(): ClusterInfo {
    const joined = () => this.coordinator;
    return {
      mode: "cluster",
      get self() {
        return joined()?.self ?? { id: "", httpUrl: "", peerUrl: "" };
      },
      members: () => [...(this.coordinator?.members() ?? [])],
      owned: () => this.ownership.owned(),
    };
  }

  /** Graceful: hand every owned resource over (flushed first), leave the cluster, stop the peer server. */
  async close(reason: AvisoError): Promise<void> {
    this.reachability?.stop();
    await this.servingNodes.close(reason);
    this.stopStatus();
    await this.coordinator?.close().catch(() => {});
    await this.peerServer?.close();
  }

  private onStatus(status: CoordinatorStatus): void {
    const { log } = this.deps;
    switch (status.type) {
      case "members":
        applyMembership(
          status.members,
          { peers: this.peers, servingNodes: this.servingNodes, ownership: this.ownership },
          (err) => logEvents.unexpectedError(log, { context: "rebalance", err }),
        );
        return;
      case "disconnected":
        // The session may live: this node keeps serving what it owns and
        // forwarding the rest, so it stays ready while it reconnects.
        return;
      case "lost":
      case "expired":
        this.connected = false;
        return;
      case "connected":
      case "reconnected":
        this.connected = true;
        return;
    }
  }

  private async onPeerEvent(event: PeerEvent): Promise<void> {
    const serving = this.servingNodes.servedHere();
    switch (event.type) {
      case "changed":
        this.deps.catalog.forget(event.kind, event.name);
        return;
      case "userRevoked":
        this.deps.userDirectory.forget(event.username);
        return;
      case "release":
        this.deps.host.release(event.kind, event.name, event.reason);
        return;
      case "bindingCreated":
        await serving.bindingCreated(event.topic, event.queue);
        return;
      case "bindingRemoved":
        await serving.bindingRemoved(event.topic, event.queue);
        return;
    }
  }
}

/**
 * The peer link's mutual TLS from peerTlsCa/peerTlsCert/peerTlsKey (the
 * config loader has checked that all three or none are set and that the
 * files exist). Read once: new certificates take effect on restart.
 */
function peerTlsOf(config: ClusterSettings): PeerTls | undefined {
  const { peerTlsCa, peerTlsCert, peerTlsKey } = config;
  if (peerTlsCa === undefined || peerTlsCert === undefined || peerTlsKey === undefined) return undefined;
  return { ca: readFileSync(peerTlsCa), cert: readFileSync(peerTlsCert), key: readFileSync(peerTlsKey) };
}
