// One Socket.IO node with the Redis adapter: the peer catalog-cache's WebSocket fan-out is
// compared with (bench/ws.sh starts two: A holds the clients, B takes the writes).
//
//   node server.js --port 3201 [--redis-url redis://127.0.0.1:6379] [--key wsbench-sio]
//
// Clients (WebSocket transport only) emit `subscribe` with a list of rooms and get the ack
// `{type:"subscribed",topics}`, as catalog-cache's `subscribe` answers `subscribed`.
// `PUT /api/products/:id {"description": "..."}` builds a product event of catalog-cache's
// shape and sends it with `io.to("products").emit("product.updated", event)`: the Redis
// adapter publishes it, so it reaches the room's clients on every node. There is no
// database here (catalog-cache's writes also commit to PostgreSQL first), and `offset` is
// this node's own counter. `GET /health` answers 200 once Redis is connected.
"use strict";

const http = require("node:http");
const { parseArgs } = require("node:util");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const { values: opts } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    "redis-url": { type: "string", default: "redis://127.0.0.1:6379" },
    // Prefix of the adapter's pub/sub channels: a bench run keeps to its own.
    key: { type: "string", default: "wsbench-sio" },
  },
});
const port = Number(opts.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error("server.js: --port 1..65535 is required");
  process.exit(2);
}

let offset = 0;
const MAX_BODY_BYTES = 64 * 1024;

function sendJson(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

// A product of catalog-cache's shape, so the frames are about the same size.
function product(id, description) {
  const now = new Date().toISOString();
  return {
    id,
    name: `Essential Electronics Item ${id}`,
    description,
    category: "Electronics",
    price: 84.18,
    stock: 37,
    isActive: true,
    version: offset + 1,
    createdAt: "2024-01-01T00:01:00.000Z",
    updatedAt: now,
  };
}

function handleHttp(io, req, res) {
  if (req.method === "GET" && req.url === "/health") {
    return sendJson(res, 200, { status: "ok" });
  }
  const match = /^\/api\/products\/(\d+)$/.exec(req.url);
  if (req.method !== "PUT" || !match) {
    return sendJson(res, 404, { success: false, error: { code: "not_found", message: "No such route" } });
  }
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => {
    body += chunk;
    if (body.length > MAX_BODY_BYTES) req.destroy();
  });
  req.on("end", () => {
    let input;
    try {
      input = JSON.parse(body);
    } catch {
      return sendJson(res, 400, { success: false, error: { code: "bad_request", message: "Malformed JSON" } });
    }
    if (typeof input?.description !== "string") {
      return sendJson(res, 422, { success: false, error: { code: "validation_failed", message: "description must be a string" } });
    }
    const data = product(Number(match[1]), input.description);
    offset += 1;
    const event = { type: "product.updated", product: data, ts: new Date().toISOString(), v: 1, offset };
    io.to("products").emit("product.updated", event);
    sendJson(res, 200, { success: true, data });
  });
}

async function main() {
  const pub = createClient({ url: opts["redis-url"] });
  const sub = pub.duplicate();
  pub.on("error", (e) => console.error("redis pub:", e.message));
  sub.on("error", (e) => console.error("redis sub:", e.message));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });
  io.adapter(createAdapter(pub, sub, { key: opts.key }));
  httpServer.on("request", (req, res) => {
    // socket.io answers its own path; everything else is ours.
    if (!req.url.startsWith("/socket.io/")) handleHttp(io, req, res);
  });
  io.on("connection", (socket) => {
    socket.on("subscribe", (topics, ack) => {
      if (!Array.isArray(topics) || !topics.every((t) => typeof t === "string")) {
        if (typeof ack === "function") ack({ type: "error", code: "bad_topic", message: "topics must be strings" });
        return;
      }
      socket.join(topics);
      if (typeof ack === "function") ack({ type: "subscribed", topics });
    });
  });

  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  httpServer.listen(port, opts.host, () => console.log(`socket.io node on ${opts.host}:${port}, adapter key ${opts.key}`));
}

main().catch((e) => {
  console.error("server.js:", e);
  process.exit(1);
});
