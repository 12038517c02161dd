// Test helpers: put an artifact built on disk (served by TEST_ARTIFACTS) into the real local R2 bucket,
// register it in D1 and activate it, optionally under another version name or with a damaged file.
import { env } from "cloudflare:workers";
import { sha256Hex, type Manifest } from "../../functions/model/artifact";

export interface PublishOptions {
  version?: string; // republish the same files as another ModelVersion
  corrupt?: string; // flip a byte of this file after hashing
  omit?: string; // leave this file out of R2
  manifest?: (m: Manifest) => void; // edit the manifest before it is hashed
  activate?: boolean; // default true
  registeredEncoder?: string; // the encoder tag written to D1 (default: the manifest's)
  artifact?: string; // which artifact (default: env.TEST_ARTIFACT; "shipped": models/default)
}

async function artifactFile(name: string, artifact = env.TEST_ARTIFACT): Promise<ArrayBuffer> {
  const res = await env.TEST_ARTIFACTS.fetch(`http://artifacts/${artifact}/${name}`);
  if (!res.ok) throw new Error(`artifact file ${name}: ${res.status} (build .cache/artifacts/${artifact} first)`);
  return res.arrayBuffer();
}

export async function artifactManifest(artifact?: string): Promise<Manifest> {
  return JSON.parse(new TextDecoder().decode(await artifactFile("manifest.json", artifact))) as Manifest;
}

export async function artifactJson<T>(name: string, artifact?: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await artifactFile(name, artifact))) as T;
}

export async function publishArtifact(options: PublishOptions = {}): Promise<string> {
  const manifest = await artifactManifest(options.artifact);
  const version = options.version ?? manifest.version;
  manifest.version = version;
  options.manifest?.(manifest);
  const prefix = `models/${version}/`;
  for (const file of manifest.files) {
    if (file.name === options.omit) continue;
    const bytes = new Uint8Array(await artifactFile(file.name, options.artifact));
    if (file.name === options.corrupt) bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await env.MODELS.put(prefix + file.name, bytes.buffer);
  }
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
  await env.MODELS.put(`${prefix}manifest.json`, manifestBytes.buffer);
  await env.DB.prepare(
    `INSERT OR REPLACE INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder, metrics_json)
     VALUES (?, ?, ?, ?, ?, '{}')`,
  )
    .bind(version, prefix, await sha256Hex(manifestBytes), manifest.algorithm, options.registeredEncoder ?? manifest.encoder.tag)
    .run();
  if (options.activate ?? true) await activate(version);
  return version;
}

export async function activate(version: string): Promise<void> {
  await env.DB.batch([
    env.DB.prepare("UPDATE model_versions SET active = 0 WHERE active = 1 AND version <> ?").bind(version),
    env.DB.prepare("UPDATE model_versions SET active = 1, activated_at = datetime('now') WHERE version = ?").bind(version),
  ]);
}

export async function deactivateAll(): Promise<void> {
  await env.DB.prepare("UPDATE model_versions SET active = 0 WHERE active = 1").run();
}

/** max(|a-b| - (atol + rtol·|b|)) ≤ 0 means within tolerance (numpy.allclose's rule). */
export function worstExcess(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = -Infinity;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) - (atol + rtol * Math.abs(expected[i]!)));
  }
  return worst;
}
