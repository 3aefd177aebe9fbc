/**
 * The part of node-zookeeper-client 1.1.3 that Aviso uses (the package ships
 * no types). Only what zk-session.ts and the tests call is declared.
 */
declare module "node-zookeeper-client" {
  export interface ClientOptions {
    /** Requested session timeout; the server clamps it to [2, 20] × tickTime by default. */
    sessionTimeout?: number;
    /** Upper bound of the random pause before trying the server list again. */
    spinDelay?: number;
    /** Retries on CONNECTION_LOSS; Aviso keeps 0 and decides itself. */
    retries?: number;
  }

  export interface Stat {
    /** Session id of an ephemeral node's owner (8 bytes), zeros for persistent nodes. */
    ephemeralOwner: Buffer;
    version: number;
  }

  /** Called once with the event (type, path) that triggered it. */
  export type Watcher = (event: unknown) => void;

  /** Callbacks get the library's Exception (an Error with getName(), e.g. "NODE_EXISTS") or nothing. */
  export type ErrorArgument = Error | null | undefined;

  export class Id {
    constructor(scheme: string, id: string);
    readonly scheme: string;
    readonly id: string;
  }

  /** One access control entry: a bit set of Permission for one identity. */
  export class ACL {
    constructor(permission: number, id: Id);
    readonly permission: number;
    readonly id: Id;
    /** world:anyone with every permission (ZooKeeper's default). */
    static readonly OPEN_ACL_UNSAFE: ACL[];
  }

  export const Permission: {
    readonly READ: number;
    readonly WRITE: number;
    readonly CREATE: number;
    readonly DELETE: number;
    readonly ADMIN: number;
    readonly ALL: number;
  };

  export interface Client {
    connect(): void;
    /** Adds credentials to the session; sent now if connected, and on every (re)connect. */
    addAuthInfo(scheme: string, auth: Buffer): void;
    once(event: "connected" | "disconnected" | "expired", listener: () => void): this;
    close(): void;
    getSessionId(): Buffer;
    /** The negotiated timeout once connected, the requested one before. */
    getSessionTimeout(): number;
    on(event: "connected" | "disconnected" | "expired", listener: () => void): this;
    create(
      path: string,
      data: Buffer,
      acls: ACL[],
      mode: number,
      callback: (error: ErrorArgument, path: string) => void,
    ): void;
    setData(
      path: string,
      data: Buffer,
      version: number,
      callback: (error: ErrorArgument, stat: Stat) => void,
    ): void;
    getACL(path: string, callback: (error: ErrorArgument, acls: ACL[] | undefined, stat: Stat) => void): void;
    setACL(
      path: string,
      acls: ACL[],
      version: number,
      callback: (error: ErrorArgument, stat: Stat) => void,
    ): void;
    remove(path: string, version: number, callback: (error: ErrorArgument) => void): void;
    getData(
      path: string,
      watcher: Watcher | undefined,
      callback: (error: ErrorArgument, data: Buffer | undefined, stat: Stat) => void,
    ): void;
    exists(
      path: string,
      watcher: Watcher | undefined,
      callback: (error: ErrorArgument, stat: Stat | null) => void,
    ): void;
    getChildren(
      path: string,
      watcher: Watcher | undefined,
      callback: (error: ErrorArgument, children: string[], stat: Stat) => void,
    ): void;
    mkdirp(path: string, acls: ACL[], callback: (error: ErrorArgument, path: string) => void): void;
    /** Internal and undocumented; zk-session.ts reads its `socket` defensively. */
    readonly connectionManager?: unknown;
  }

  export function createClient(connectionString: string, options?: ClientOptions): Client;

  export const CreateMode: {
    readonly PERSISTENT: number;
    readonly EPHEMERAL: number;
  };
}
