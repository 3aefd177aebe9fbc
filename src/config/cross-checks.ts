import { statSync } from "node:fs";
import { isIP } from "node:net";
import type { Config } from "./schema.ts";

/**
 * Rules that involve more than one key. Each returns problems instead of
 * throwing so the loader can report them together with every other problem.
 */
export function crossFieldProblems(config: Config): string[] {
  const problems: string[] = [];
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined;

  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    problems.push("tlsCert and tlsKey must be set together (AVISO_TLS_CERT / AVISO_TLS_KEY), or neither");
  }

  const peerTlsKeys = ["peerTlsCa", "peerTlsCert", "peerTlsKey"] as const;
  const peerTlsSet = peerTlsKeys.filter((key) => config[key] !== undefined).length;
  if (peerTlsSet !== 0 && peerTlsSet !== peerTlsKeys.length) {
    problems.push(
      "peerTlsCa, peerTlsCert and peerTlsKey must be set together " +
        "(AVISO_PEER_TLS_CA / AVISO_PEER_TLS_CERT / AVISO_PEER_TLS_KEY), or none",
    );
  }
  for (const key of ["tlsCert", "tlsKey", ...peerTlsKeys] as const) {
    const path = config[key];
    if (path !== undefined && !isReadableFile(path))
      problems.push(`${key}: file "${path}" does not exist or is not a file`);
  }

  if (!isLoopback(config.host) && !tls && !config.allowPlaintextBind) {
    problems.push(
      `host "${config.host}" is not a loopback address and TLS is off, so passwords and tokens would cross the ` +
        "network in clear: set tlsCert and tlsKey, or opt in with allowPlaintextBind=true " +
        "(AVISO_ALLOW_PLAINTEXT_BIND=true) when a TLS-terminating proxy sits in front",
    );
  }

  problems.push(...externalIssuerProblems(config));

  if (config.zk !== undefined) {
    // A cluster shares durable state through MySQL and verifies tokens issued by any node.
    if (!config.store.startsWith("mysql://"))
      problems.push("zk is set (cluster mode) so store must be a mysql:// URL");
    if (config.clusterSecret === undefined)
      problems.push("zk is set (cluster mode) so clusterSecret is required");
    if (config.tokenSecret === undefined) {
      problems.push(
        "zk is set (cluster mode) so tokenSecret is required: every node must verify the others' tokens",
      );
    }
  }

  // A payload that fits the payload limit must also fit the envelopes that carry it.
  if (config.maxPayloadBytes > config.maxBodyBytes) {
    problems.push(
      `maxPayloadBytes (${config.maxPayloadBytes}) must not exceed maxBodyBytes (${config.maxBodyBytes})`,
    );
  }
  if (config.maxPayloadBytes > config.maxFrameBytes) {
    problems.push(
      `maxPayloadBytes (${config.maxPayloadBytes}) must not exceed maxFrameBytes (${config.maxFrameBytes})`,
    );
  }
  if (config.maxPayloadBytes > config.slowConsumerBufferBytes) {
    problems.push(
      `maxPayloadBytes (${config.maxPayloadBytes}) must not exceed slowConsumerBufferBytes ` +
        `(${config.slowConsumerBufferBytes}), or one large delivery closes any subscriber`,
    );
  }
  return problems;
}

/** docs/security.md S14: an external issuer is all three settings or none, with keys nobody on the path can swap. */
function externalIssuerProblems(config: Config): string[] {
  const { jwtIssuer, jwtAudience, jwtJwks } = config;
  const set = [jwtIssuer, jwtAudience, jwtJwks].filter((value) => value !== undefined).length;
  if (set === 0) return [];
  if (set !== 3) {
    return [
      "jwtIssuer, jwtAudience and jwtJwks must be set together (AVISO_JWT_ISSUER / AVISO_JWT_AUDIENCE / AVISO_JWT_JWKS), or none",
    ];
  }
  const problems: string[] = [];
  if (jwtIssuer === "aviso")
    problems.push('jwtIssuer must not be "aviso": that issuer names Aviso\'s own login tokens');
  const jwks = jwtJwks as string;
  if (/^https?:\/\//i.test(jwks)) {
    const url = URL.canParse(jwks) ? new URL(jwks) : undefined;
    if (url === undefined) problems.push(`jwtJwks "${jwks}" is not a valid URL`);
    else if (url.protocol === "http:" && !isLoopback(url.hostname)) {
      problems.push(
        `jwtJwks "${jwks}": fetch keys over https:// (plain http:// only from a loopback host), or anyone on the path can swap them`,
      );
    }
  } else if (!isReadableFile(jwks)) {
    problems.push(`jwtJwks: file "${jwks}" does not exist or is not a file`);
  }
  return problems;
}

/** True for names and addresses that never leave the machine. */
export function isLoopback(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1" || bare.toLowerCase().startsWith("::ffff:127.");
  return false;
}

function isReadableFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
