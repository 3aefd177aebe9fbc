import type { AuthFrame } from "../frames.ts";
import { okFrame } from "../frames.ts";
import type { WsSession } from "../session.ts";

/** `auth`: first authentication of a browser socket, or a refresh before the token expires. */
export async function authOp(session: WsSession, frame: AuthFrame): Promise<void> {
  const principal = await session.deps.services.users.authenticate(frame.token);
  session.authenticated(principal, frame.token);
  session.send(okFrame(frame.id, { username: principal.username, expiresAt: principal.tokenExpiresAt }));
}
