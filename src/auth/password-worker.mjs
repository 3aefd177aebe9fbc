// Runs bcrypt off the main thread: bcryptjs is pure JavaScript and would
// otherwise stall every socket for ~85 ms per login at cost 10.
import { parentPort } from "node:worker_threads";
import bcrypt from "bcryptjs";

parentPort.on("message", async ({ id, op, password, hash, cost }) => {
  try {
    const result = op === "hash" ? await bcrypt.hash(password, cost) : await bcrypt.compare(password, hash);
    parentPort.postMessage({ id, result });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error) });
  }
});
