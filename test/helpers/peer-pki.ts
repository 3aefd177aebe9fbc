/**
 * Certificates for peer-link mutual TLS tests, made at test time with the
 * openssl CLI (Node cannot issue X.509 certificates by itself) into a
 * temporary directory; nothing is committed. The commands are the ones
 * docs/operations.md "Securing the cluster" gives operators.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const opensslTimeoutMs = 30_000;

export interface PeerCertificate {
  /** PEM file paths. */
  cert: string;
  key: string;
}

export interface PeerCa {
  /** PEM file path of the CA certificate. */
  cert: string;
  key: string;
  /** Issues a certificate for `hosts` (IP addresses or DNS names) usable as server and as client. */
  issue(name: string, hosts: string[]): Promise<PeerCertificate>;
}

export interface PeerPki {
  readonly dir: string;
  /** Makes a new CA (self-signed, EC P-256, valid one day). */
  ca(name: string): Promise<PeerCa>;
  /** Deletes every key and certificate. */
  remove(): Promise<void>;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args, { timeout: opensslTimeoutMs });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT")
      throw new Error("the openssl CLI is missing; install it with: apt-get install -y openssl");
    throw error;
  }
}

export async function createPeerPki(): Promise<PeerPki> {
  const dir = await mkdtemp(join(tmpdir(), "aviso-peer-pki-"));
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  return {
    dir,
    async ca(name) {
      const cert = join(dir, `${name}.pem`);
      const key = join(dir, `${name}.key`);
      await openssl([
        "req",
        "-x509",
        ...ecKey,
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        `/CN=${name}`,
      ]);
      return {
        cert,
        key,
        async issue(nodeName, hosts) {
          const nodeCert = join(dir, `${nodeName}.pem`);
          const nodeKey = join(dir, `${nodeName}.key`);
          const request = join(dir, `${nodeName}.csr`);
          const extensions = join(dir, `${nodeName}.ext`);
          const altNames = hosts.map((host) => (/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`));
          await writeFile(
            extensions,
            [
              `subjectAltName=${altNames.join(",")}`,
              "extendedKeyUsage=serverAuth,clientAuth",
              "basicConstraints=CA:FALSE",
              "",
            ].join("\n"),
          );
          await openssl(["req", ...ecKey, "-keyout", nodeKey, "-out", request, "-subj", `/CN=${nodeName}`]);
          await openssl([
            "x509",
            "-req",
            "-in",
            request,
            "-CA",
            cert,
            "-CAkey",
            key,
            "-CAcreateserial",
            "-out",
            nodeCert,
            "-days",
            "1",
            "-extfile",
            extensions,
          ]);
          return { cert: nodeCert, key: nodeKey };
        },
      };
    },
    async remove() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
