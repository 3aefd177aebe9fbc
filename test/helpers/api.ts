import { randomUUID } from "node:crypto";

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small REST client for tests: JSON in, JSON out, status kept. */
export class Api {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  withToken(token: string): Api {
    return new Api(this.baseUrl, token);
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (this.token !== undefined)
      (init.headers as Record<string, string>).authorization = `Bearer ${this.token}`;
    if (body !== undefined) {
      (init.headers as Record<string, string>)["content-type"] ??= "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const response = await fetch(`${this.baseUrl}${path}`, init);
    const text = await response.text();
    let parsed: unknown = text;
    if ((response.headers.get("content-type") ?? "").includes("json") && text !== "")
      parsed = JSON.parse(text);
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  get<T = Record<string, unknown>>(path: string) {
    return this.request<T>("GET", path);
  }
  post<T = Record<string, unknown>>(path: string, body: unknown = {}) {
    return this.request<T>("POST", path, body);
  }
  delete<T = Record<string, unknown>>(path: string) {
    return this.request<T>("DELETE", path);
  }
}

/** A unique name per call, so tests sharing a store never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Registers and logs in a fresh user; returns an Api carrying its token. */
export async function newUser(
  baseUrl: string,
  prefix = "user",
): Promise<{ username: string; password: string; api: Api }> {
  return registerUser(baseUrl, uniqueName(prefix));
}

/** Registers and logs in a user of that exact name (e.g. one named in AVISO_OPERATORS). */
export async function registerUser(
  baseUrl: string,
  username: string,
): Promise<{ username: string; password: string; api: Api }> {
  const password = "correct horse battery";
  const anonymous = new Api(baseUrl);
  const registered = await anonymous.post("/v1/auth/register", { username, password });
  if (registered.status !== 201) throw new Error(`register failed: ${JSON.stringify(registered.body)}`);
  const login = await anonymous.post<{ token: string }>("/v1/auth/login", { username, password });
  if (login.status !== 200) throw new Error(`login failed: ${JSON.stringify(login.body)}`);
  return { username, password, api: anonymous.withToken(login.body.token) };
}
