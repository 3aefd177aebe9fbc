import uWS, { type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocket } from "uWebSockets.js";
import type { Principal } from "../../app/context.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import { logEvents } from "../../log/events.ts";
import type { Clock } from "../../shared/clock.ts";
import { errorReply, writeReply } from "../http/respond.ts";
import { ConnectionSlots } from "./connection-slots.ts";
import { dispatchFrame } from "./dispatch.ts";
import { type SessionDeps, type SocketPort, WsSession } from "./session.ts";

interface SocketData {
  principal: Principal | null;
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
      const session = new WsSession(socketPort(ws), deps, slot);
      data.session = session;
      sessions.add(session);
      metrics.wsConnections.inc();
      session.opened(data.principal);
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
    const accept = (principal: Principal | null) => {
      if (aborted) return;
      // Checked again: while the token was verified, other upgrades may have filled the node.
      const lateProblem = upgradeProblem(query, principal);
      if (lateProblem !== undefined) {
        refuse(lateProblem);
        return;
      }
      res.cork(() => {
        res.upgrade<SocketData>(
          { principal, ip, session: null, closed: false },
          key,
          protocol,
          extensions,
          context,
        );
      });
    };
    if (authorization === "") {
      accept(null);
      return;
    }
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (match === null) {
      refuse(new AvisoError("AUTH_REQUIRED", "Authorization must be `Bearer <token>`."));
      return;
    }
    deps.services.users
      .authenticate(match[1] as string)
      .then(accept, (error: unknown) => refuse(AvisoError.from(error)));
  }

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
    },
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
