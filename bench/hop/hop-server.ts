/**
 * The server side of the hop-cost bench, run in a child process
 * (bench/hop-cost.ts --serve TRANSPORT): one listener per transport on an
 * ephemeral loopback port, answering every frame with ANSWER, and its own CPU
 * usage reported over stdin/stdout.
 */
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import type { Duplex } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { ANSWER, ANSWER_FRAME, FrameCounter, hopService, type LinkTransport } from "./framing.ts";

/** Answers every whole frame that arrives on `duplex` with ANSWER_FRAME. */
function answerEachFrame(duplex: Duplex): void {
  const frames = new FrameCounter();
  duplex.on("data", (chunk: Buffer) => {
    for (let n = frames.push(chunk); n > 0; n--) duplex.write(ANSWER_FRAME);
  });
  duplex.on("error", () => duplex.destroy());
}

/** Listens on an ephemeral loopback port; resolves with the port. */
function listenOnLoopback(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

function listenTcp(): Promise<number> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    answerEachFrame(socket);
  });
  return listenOnLoopback(server);
}

function listenH2(): Promise<number> {
  const server = http2.createServer();
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    answerEachFrame(stream);
  });
  return listenOnLoopback(server);
}

function listenGrpc(): Promise<number> {
  const server = new grpc.Server();
  server.addService(hopService, {
    hop: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", () => call.write(ANSWER));
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) =>
      error === null ? resolve(port) : reject(error),
    ),
  );
}

/** Prints the port, then answers every line on stdin with its own CPU usage; exits when stdin closes. */
export async function serve(transport: LinkTransport): Promise<void> {
  const listen = { tcp: listenTcp, h2: listenH2, "grpc-js": listenGrpc }[transport];
  const port = await listen();
  createInterface({ input: process.stdin })
    .on("line", () => process.stdout.write(`${JSON.stringify(process.cpuUsage())}\n`))
    .on("close", () => process.exit(0));
  process.stdout.write(`${port}\n`);
}
