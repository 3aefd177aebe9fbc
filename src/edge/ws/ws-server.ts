import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocket } from "uWebSockets.js";
import type { Principal } from "../../app/context.ts";
import type { Services } from "../../app/services.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { WsClose } from "../../errors/ws-close.ts";
import { logEvents } from "../../log/events.ts";
import type { Clock } from "../../shared/clock.ts";
import { errorReply, writeReply } from "../http/respond.ts";
import { ConnectionSlots } from "./connection-slots.ts";
import { dispatchFrame } from "./dispatch.ts";
import { type SessionDeps, type SocketPort, WsSession } from "./session.ts";

interface SocketData {
  principal: Principal | null;
  /** The upgrade's bearer token, when it carried one. */
  token: string | null;
  ip: string;
  session: WsSession | null;
  closed: boolean;
}

export interface WebSocketEndpoint {
  readonly connectionCount: number;
  /** Closes every session with `code` (1001 going away at shutdown). */
  closeAll(code: number, reason: string): void;
  stop(): void;
}

/** How often every socket is checked for backpressure and stalls. */
const SLOW_CONSUMER_SWEEP_MS = 250;

/** Mounts /v1/ws: upgrade checks (token in header, no token in URL, connection limits), then one session per socket. */
export function mountWebSocket(
  app: TemplatedApp,
  deps: SessionDeps & { clock: Clock; isShuttingDown(): boolean },
): WebSocketEndpoint {
  const sessions = new Set<WsSession>();
  const { config, log, metrics } = deps;
  const revocations = trackRevocations(deps.services.users);
  const sessionDeps: SessionDeps = { ...deps, onAuthenticated: (session) => revocations.add(session) };
  const slots = new ConnectionSlots(config);

  app.ws<SocketData>("/v1/ws", {
    maxPayloadLength: config.maxFrameBytes,
    idleTimeout: config.wsIdleTimeoutSec,
    sendPingsAutomatically: true,
    compression: uWS.DISABLED,
    // A hard ceiling far above our own slow-consumer limit, which closes sockets first and with a code.
    maxBackpressure: config.slowConsumerBufferBytes * 4,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => upgrade(res, req, context),
    open: (ws) => {
      const data = ws.getUserData();
      // Taken in the same tick as the upgrade's last check: uWS opens the socket inside res.upgrade.
      const slot = slots.take(data.principal?.username ?? null);
      const session = new WsSession(socketPort(ws), sessionDeps, slot);
      data.session = session;
      sessions.add(session);
      metrics.wsConnections.inc();
      session.opened(data.principal, data.token);
    },
    message: (ws, message, isBinary) => {
      const session = ws.getUserData().session;
      if (session === null) return;
      if (isBinary) {
        session.sendError(new AvisoError("BINARY_FRAME", "Send text frames holding one JSON object each."));
        return;
      }
      dispatchFrame(session, Buffer.from(message).toString("utf8"));
    },
    drain: (ws) => ws.getUserData().session?.drained(),
    close: (ws) => {
      const data = ws.getUserData();
      data.closed = true;
      if (data.session !== null) {
        sessions.delete(data.session);
        revocations.remove(data.session);
        metrics.wsConnections.dec();
        data.session.closedByTransport();
      }
    },
  });

  /** `principal` undefined: not known yet (the token is being checked). */
  function upgradeProblem(
    query: URLSearchParams,
    principal: Principal | null | undefined,
  ): AvisoError | undefined {
    if (deps.isShuttingDown()) return new AvisoError("SHUTTING_DOWN");
    if (query.has("token") || query.has("access_token")) return new AvisoError("TOKEN_IN_URL");
    const problem = slots.problem(principal === undefined ? undefined : (principal?.username ?? null));
    if (problem?.reason === "TOO_MANY_CONNECTIONS")
      logEvents.connectionLimitReached(log, { maxConnections: config.maxConnections });
    return problem;
  }

  function upgrade(res: HttpResponse, req: HttpRequest, context: uWS.us_socket_context_t): void {
    const key = req.getHeader("sec-websocket-key");
    const protocol = req.getHeader("sec-websocket-protocol");
    const extensions = req.getHeader("sec-websocket-extensions");
    const authorization = req.getHeader("authorization");
    const query = new URLSearchParams(req.getQuery() ?? "");
    const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const refuse = (error: AvisoError) => writeReply(res, errorReply(error), {}, () => aborted);
    const problem = upgradeProblem(query, authorization === "" ? null : undefined);
    if (problem !== undefined) {
      refuse(problem);
      return;
    }
    const accept = (principal: Principal | null, token: string | null) => {
      if (aborted) return;
      // Checked again: while the token was verified, other upgrades may have filled the node.
      const lateProblem = upgradeProblem(query, principal);
      if (lateProblem !== undefined) {
        refuse(lateProblem);
        return;
      }
      res.cork(() => {
        res.upgrade<SocketData>(
          { principal, token, ip, session: null, closed: false },
          key,
          protocol,
          extensions,
          context,
        );
      });
    };
    if (authorization === "") {
      accept(null, null);
      return;
    }
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (match === null) {
      refuse(new AvisoError("AUTH_REQUIRED", "Authorization must be `Bearer <token>`."));
      return;
    }
    const token = match[1] as string;
    deps.services.users.authenticate(token).then(
      (principal) => accept(principal, token),
      (error: unknown) => refuse(AvisoError.from(error)),
    );
  }

  // S14: a revoked API key closes the sockets it opened: on this node at once, on the others
  // within apiKeyCacheMs (each node re-reads the keys its sockets hold that often).
  const closeRevoked = (id: string) => {
    for (const session of [...sessions]) {
      if (session.principal?.apiKey?.id === id) {
        session.closeWith(new AvisoError("API_KEY_REVOKED"), WsClose.TokenRevoked);
      }
    }
  };
  const stopRevocations = deps.services.apiKeys.onRevoked(closeRevoked);
  const keyRecheck = setInterval(
    () => {
      const ids = new Set<string>();
      for (const session of sessions) if (session.principal?.apiKey) ids.add(session.principal.apiKey.id);
      if (ids.size === 0) return;
      deps.services.apiKeys.revokedAmong(ids).then(
        (revoked) => revoked.forEach(closeRevoked),
        // The store is away: keep the sockets, the next round checks again.
        () => {},
      );
    },
    Math.max(config.apiKeyCacheMs, 250),
  );
  keyRecheck.unref();

  const sweep = setInterval(() => {
    const now = deps.clock.now();
    for (const session of sessions) {
      session.checkBackpressure();
      session.checkStall(now);
    }
  }, SLOW_CONSUMER_SWEEP_MS);
  sweep.unref();

  return {
    get connectionCount() {
      return sessions.size;
    },
    closeAll(code, reason) {
      for (const session of [...sessions]) {
        session.closeWith(new AvisoError("SHUTTING_DOWN", reason), code);
      }
    },
    stop() {
      clearInterval(sweep);
      revocations.stop();
      stopRevocations();
      clearInterval(keyRecheck);
    },
  };
}

/**
 * Sessions by user, so a revocation ("userRevoked", made here or learnt from
 * a peer) reaches that user's sessions at once: each one's token is checked
 * again and a revoked one closes with 4003 TOKEN_REVOKED (docs/security.md S9).
 */
function trackRevocations(users: Services["users"]) {
  const byUser = new Map<string, Set<WsSession>>();
  const stop = users.onUserRevoked((username) => {
    for (const session of [...(byUser.get(username) ?? [])]) {
      const token = session.token;
      if (token === null) continue;
      users.authenticate(token).catch((error: unknown) => {
        const failure = AvisoError.from(error);
        if (failure.reason === "TOKEN_REVOKED") session.closeWith(failure, WsClose.TokenRevoked);
      });
    }
  });
  return {
    add(session: WsSession): void {
      const username = session.principal?.username;
      if (username === undefined) return;
      let userSessions = byUser.get(username);
      if (userSessions === undefined) {
        userSessions = new Set();
        byUser.set(username, userSessions);
      }
      userSessions.add(session);
    },
    remove(session: WsSession): void {
      const username = session.principal?.username;
      if (username === undefined) return;
      const userSessions = byUser.get(username);
      userSessions?.delete(session);
      if (userSessions?.size === 0) byUser.delete(username);
    },
    stop,
  };
}

/** The session's view of a uWS socket; calls after close are ignored (uWS frees the socket). */
function socketPort(ws: WebSocket<SocketData>): SocketPort {
  const data = ws.getUserData();
  return {
    ip: data.ip,
    send: (frame) => {
      if (!data.closed) ws.send(frame, false);
    },
    cork: (fn) => {
      if (!data.closed) ws.cork(fn);
    },
    subscribe: (channel) => {
      if (!data.closed) ws.subscribe(channel);
    },
    unsubscribe: (channel) => {
      if (!data.closed) ws.unsubscribe(channel);
    },
    bufferedAmount: () => (data.closed ? 0 : ws.getBufferedAmount()),
    end: (code, reason) => {
      if (data.closed) return;
      data.closed = true;
      ws.end(code, reason);
    },
  };
}
