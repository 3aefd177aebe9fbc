/** One server of a store URL. */
export interface MysqlHost {
  host: string;
  port: number;
}

/** Connection settings for one server: what a mysql2 pool is created with. */
export interface MysqlTarget extends MysqlHost {
  user: string;
  password: string;
  database: string;
}

/**
 * A parsed `mysql://user:password@host:port/database` URL. `hosts` has one
 * entry, or several for `mysql://user:password@host1:port1,host2:port2/database`
 * (a primary and its replicas, in the order they are tried).
 */
export interface MysqlUrl {
  hosts: MysqlHost[];
  user: string;
  password: string;
  database: string;
}

const shape =
  "mysql://user:password@host:port/database (or host1:port1,host2:port2 for a primary and replicas)";

export function parseMysqlUrl(url: string): MysqlUrl {
  // WHATWG URL rejects a host list, so split it off first: the authority ends
  // at the first / ? or #, and the user info ends at its last @ (as in URL).
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (match === null) throw new Error(`MySQL store URL is not a URL; expected ${shape}`);
  const [, scheme = "", authority = "", rest = ""] = match;
  const at = authority.lastIndexOf("@");
  const userInfo = at < 0 ? "" : authority.slice(0, at + 1);
  const hostList = authority.slice(at + 1).split(",");
  // The first host stands in while URL parses the user, password and database:
  // a single-host URL is thereby parsed exactly as a whole.
  const parsed = parseUrl(`${scheme}${userInfo}${hostList[0] ?? ""}${rest}`);
  if (parsed.protocol !== "mysql:") {
    throw new Error(`MySQL store URL must start with mysql:// (got ${parsed.protocol}//)`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (database === "" || database.includes("/")) {
    throw new Error("MySQL store URL must name one database: mysql://user:password@host:port/database");
  }
  const hosts = hostList.map((entry, index) => parseHost(entry, index));
  const seen = new Set<string>();
  for (const host of hosts) {
    const key = `${host.host}:${host.port}`;
    if (seen.has(key)) throw new Error(`MySQL store URL lists ${key} twice`);
    seen.add(key);
  }
  return {
    hosts,
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database,
  };
}

/** The settings for connecting to one of the URL's hosts. */
export function targetOf(url: MysqlUrl, host: MysqlHost): MysqlTarget {
  return { host: host.host, port: host.port, user: url.user, password: url.password, database: url.database };
}

/** `host:port` for messages (IPv6 in brackets). */
export function hostLabel(host: MysqlHost): string {
  return host.host.includes(":") ? `[${host.host}]:${host.port}` : `${host.host}:${host.port}`;
}

function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    // Never echo the text: it holds the password.
    throw new Error(`MySQL store URL is not a URL; expected ${shape}`);
  }
}

function parseHost(entry: string, index: number): MysqlHost {
  // An empty first host keeps today's default (127.0.0.1); an empty later one is a typo (`h1,,h2`, `h1,`).
  if (entry === "" && index > 0)
    throw new Error(`MySQL store URL has an empty host in its list; expected ${shape}`);
  const parsed = entry === "" ? undefined : parseUrl(`mysql://${entry}`);
  if (parsed !== undefined && (parsed.username !== "" || parsed.pathname !== "")) {
    throw new Error(`MySQL store URL host #${index + 1} is not host:port; expected ${shape}`);
  }
  const hostname = parsed?.hostname ?? "";
  return {
    // mysql2 wants a bare IPv6 address, URL keeps its brackets.
    host: hostname === "" ? "127.0.0.1" : hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed === undefined || parsed.port === "" ? 3306 : Number(parsed.port),
  };
}
