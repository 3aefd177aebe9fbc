// The example page: log in, subscribe to a topic (live feed), publish to it.
// Uses the <script> build of @aviso/client, which defines the global `Aviso`.
const { createClient } = globalThis.Aviso;
const $ = (id) => document.getElementById(id);

let client = null;
let subscription = null;

const params = new URLSearchParams(location.search);
$("server").value = params.get("server") ?? "http://127.0.0.1:8080";

function showError(error) {
  $("error").textContent = error ? `${error.message}${error.reason ? ` (${error.reason})` : ""}` : "";
}

function showStatus(status) {
  $("status").dataset.state = status.state;
  $("status").textContent =
    status.state === "connected"
      ? `connected to ${status.url} as ${status.username}`
      : status.state === "disconnected"
        ? `disconnected (${status.reason}), reconnecting in ${status.reconnectInMs} ms`
        : status.state;
}

function addToFeed(message) {
  const item = document.createElement("li");
  item.dataset.offset = String(message.offset);
  const offset = Object.assign(document.createElement("span"), {
    className: "offset",
    textContent: `#${message.offset}`,
  });
  const key = Object.assign(document.createElement("span"), { className: "key", textContent: message.key });
  const payload = Object.assign(document.createElement("span"), {
    className: "payload",
    textContent: typeof message.payload === "string" ? message.payload : JSON.stringify(message.payload),
  });
  item.append(offset, key, payload);
  $("feed").prepend(item);
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  await client?.close();
  client = createClient({ urls: [$("server").value] });
  client.on("status", showStatus);
  try {
    await client.auth.login({ username: $("username").value, password: $("password").value });
    $("login").hidden = true;
    $("app").hidden = false;
  } catch (error) {
    showError(error);
  }
});

$("subscribe").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  await subscription?.close();
  $("feed").replaceChildren();
  subscription = client.topics.subscribe($("topic").value, {
    pattern: $("pattern").value || "#",
    onMessage: addToFeed,
    onGap: (gap) => showError({ message: `retention dropped messages ${gap.from}–${gap.to - 1}` }),
  });
  subscription.on("error", showError);
  try {
    await subscription.ready();
    document.body.dataset.subscribed = $("topic").value;
  } catch (error) {
    showError(error);
  }
});

$("publish").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  const text = $("message").value;
  let payload = text;
  try {
    payload = JSON.parse(text);
  } catch {
    // not JSON: send the text itself
  }
  try {
    const key = $("key").value;
    await client.topics.publish($("topic").value, payload, key ? { key } : {});
    $("message").value = "";
  } catch (error) {
    showError(error);
  }
});
