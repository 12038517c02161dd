#!/usr/bin/env node
// node scripts/webhook-receiver.mjs [--port 8788]   (WEBHOOK_SECRET=whsec_... in the environment)
// A callback receiver for trying webhooks locally (README, "Webhooks"): checks each post's signature the
// way a real receiver must — HMAC-SHA256 of "<timestamp>.<raw body>" under the endpoint's secret,
// compared in constant time, the timestamp within 5 minutes — and prints the Execution it carries.
// Answers 200 when the signature holds, 401 otherwise (the service then retries, as it would for you).
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({ options: { port: { type: "string", default: "8788" } } });
const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error("webhook-receiver: set WEBHOOK_SECRET to the endpoint's signing secret (whsec_…)");
  process.exit(2);
}

/** Whether `header` ("v1=<hex>[, v1=<hex>]") signs `body` at `timestamp` under `key`. */
function signatureHolds(key, timestamp, header, body, nowS = Date.now() / 1000) {
  if (!/^\d{1,12}$/.test(timestamp ?? "") || Math.abs(nowS - Number(timestamp)) > 300) return false;
  const want = createHmac("sha256", key).update(`${timestamp}.${body}`).digest();
  return (header ?? "").split(",").some((part) => {
    const got = Buffer.from(part.trim().replace(/^v1=/, ""), "hex");
    return part.trim().startsWith("v1=") && got.length === want.length && timingSafeEqual(got, want);
  });
}

createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const ok = signatureHolds(secret, req.headers["x-adaptagent-timestamp"], req.headers["x-adaptagent-signature"], body);
    const delivery = req.headers["x-adaptagent-delivery"] ?? "?";
    if (!ok) {
      console.log(`[receiver] ${req.method} ${req.url} delivery ${delivery}: signature REFUSED`);
      res.writeHead(401).end();
      return;
    }
    let payload;
    try {
      payload = JSON.parse(body);
    } catch {
      payload = body;
    }
    console.log(`[receiver] delivery ${delivery}: signature ok\n${JSON.stringify(payload, null, 2)}`);
    res.writeHead(200, { "content-type": "application/json" }).end('{"received":true}');
  });
}).listen(Number(opt.port), "127.0.0.1", () => console.log(`[receiver] listening on http://127.0.0.1:${opt.port}/`));
