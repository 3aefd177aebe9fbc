import { create } from "@bufbuild/protobuf";
import type { handleBidiStreamingCall, ServerDuplexStream } from "@grpc/grpc-js";
import type { ServingNodes } from "../../app/serving-nodes.ts";
import { AvisoError } from "../../errors/aviso-error.ts";
import {
  type PublishRequest,
  type PublishResponse,
  PublishResponseSchema,
  PublishResultSchema,
} from "./gen/aviso/peer/v1/peer_pb.ts";
import { errorToWire } from "./peer-codec.ts";
import { publishEntry, type ReportInternal } from "./server-unary.ts";

type Call = ServerDuplexStream<PublishRequest, PublishResponse>;

/**
 * Serves the Publish stream. Each batch's publishes start as its frame
 * arrives, so they reach the engines in stream order; each batch is answered
 * once all of its publishes settled, whatever order that happens in. On
 * shutdown the stream stops taking batches (answered FENCED: nothing was
 * written, retry on the new serving node), answers those in flight, then ends.
 */
export function publishHandler(
  servingNodes: ServingNodes,
  reportInternal: ReportInternal,
  openStreams: Set<(reason: AvisoError) => void>,
): handleBidiStreamingCall<PublishRequest, PublishResponse> {
  return (call: Call) => {
    const answering = new Set<Promise<void>>();
    let closing = false;
    let done = false;
    const finish = () => {
      done = true;
      openStreams.delete(shutdown);
    };
    const endWhenAnswered = () => {
      void Promise.all(answering).then(() => {
        if (done) return;
        finish();
        call.end();
      });
    };
    const shutdown = () => {
      closing = true;
      endWhenAnswered();
    };
    openStreams.add(shutdown);

    call.on("data", (request: PublishRequest) => {
      if (done) return;
      const results = closing
        ? request.entries.map(() => Promise.resolve(refused()))
        : request.entries.map((entry) => publishEntry(servingNodes, entry));
      const answer = Promise.all(results)
        .then((settled) => {
          if (!done)
            call.write(create(PublishResponseSchema, { batchId: request.batchId, results: settled }));
        })
        .catch((error: unknown) => reportInternal("peer publish", error))
        .finally(() => answering.delete(answer));
      answering.add(answer);
    });
    call.on("end", endWhenAnswered);
    // Cancelled, deadline, connection lost: nobody reads answers any more (publishes in flight still land).
    call.on("cancelled", finish);
    call.on("error", finish);
  };
}

function refused() {
  const error = new AvisoError(
    "FENCED",
    "This node is shutting down; nothing was written. Retry on the new serving node.",
  );
  return create(PublishResultSchema, { outcome: { case: "error", value: errorToWire(error) } });
}
