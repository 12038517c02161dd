// A webhook callback receiver, as a customer would run one: it checks each post's signature with
// node:crypto (independently of the Worker's code) and answers as the test asked. Served by the same
// local server as the fake LLM (test/support/fake-llm.ts). Paths:
//   POST /__callbacks/secret   {name, secret}: the signing secret the receiver checks `name`'s posts with
//   POST /callback/<mode>/<name>  a callback; mode: ok | fail-<n> (500 for the first n posts, then 200)
//                              | always-500 | slow (answers after 5 s; tests time callbacks out at 1 s)
//   GET  /__callbacks?name=<name>  what was received for `name`: headers, body, whether the signature held
// A post with a missing or wrong signature, or a timestamp more than 300 s off, is answered 401.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface ReceivedCallback {
  name: string;
  mode: string;
  delivery: string | null;
  timestamp: string | null;
  signatureValid: boolean;
  status: number;
  body: unknown;
}

const secrets = new Map<string, string>();
const received: ReceivedCallback[] = [];

function signatureHolds(secret: string | undefined, timestamp: string | null, header: string | null, raw: string): boolean {
  if (!secret || !timestamp || !header || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = Buffer.from(createHmac("sha256", secret).update(`${timestamp}.${raw}`).digest("hex"));
  return header.split(",").some((part) => {
    const given = Buffer.from(part.trim().replace(/^v1=/, ""));
    return part.trim().startsWith("v1=") && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** Handles the receiver's paths; false when the request is not one of them. */
export async function handleCallback(req: IncomingMessage, res: ServerResponse, url: URL, raw: () => Promise<string>): Promise<boolean> {
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.method === "POST" && url.pathname === "/__callbacks/secret") {
    const { name, secret } = JSON.parse(await raw()) as { name: string; secret: string };
    secrets.set(name, secret);
    json(200, { ok: true });
    return true;
  }
  if (req.method === "GET" && url.pathname === "/__callbacks") {
    json(200, received.filter((r) => r.name === url.searchParams.get("name")));
    return true;
  }
  const match = /^\/callback\/([a-z0-9-]+)\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
  if (req.method !== "POST" || !match) return false;
  const [, mode, name] = match as unknown as [string, string, string];
  const body = await raw();
  const timestamp = (req.headers["x-adaptagent-timestamp"] as string | undefined) ?? null;
  const valid = signatureHolds(secrets.get(name), timestamp, (req.headers["x-adaptagent-signature"] as string | undefined) ?? null, body);
  const earlier = received.filter((r) => r.name === name).length;
  let status = 200;
  if (!valid) status = 401;
  else if (mode === "always-500") status = 500;
  else if (mode.startsWith("fail-") && earlier < Number(mode.slice(5))) status = 500;
  if (mode === "slow") await new Promise((r) => setTimeout(r, 5_000));
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = body;
  }
  received.push({ name, mode, delivery: (req.headers["x-adaptagent-delivery"] as string | undefined) ?? null, timestamp, signatureValid: valid, status, body: parsed });
  if (!res.destroyed) json(status, { received: status === 200 });
  return true;
}
