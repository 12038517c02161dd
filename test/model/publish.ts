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
  accountId?: string; // an account's own version (serves only that account once active)
  rewrite?: Record<string, (bytes: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>>; // new bytes for a file, hashed into the manifest
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

/** An artifact's files, renamed and edited as `options` say, ready to put into R2 under `prefix`. */
async function prepareArtifact(options: PublishOptions) {
  const manifest = await artifactManifest(options.artifact);
  const version = options.version ?? manifest.version;
  manifest.version = version;
  options.manifest?.(manifest);
  const prefix = `models/${version}/`;
  const files: [string, ArrayBuffer][] = [];
  for (const file of manifest.files) {
    if (file.name === options.omit) continue;
    let bytes = new Uint8Array(await artifactFile(file.name, options.artifact));
    const rewrite = options.rewrite?.[file.name];
    if (rewrite) {
      bytes = rewrite(bytes);
      file.sha256 = await sha256Hex(bytes.buffer as ArrayBuffer);
      file.bytes = bytes.byteLength;
    }
    if (file.name === options.corrupt) bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    files.push([file.name, bytes.buffer as ArrayBuffer]);
  }
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
  const upload = async () => {
    for (const [name, bytes] of files) await env.MODELS.put(prefix + name, bytes);
    await env.MODELS.put(`${prefix}manifest.json`, manifestBytes.buffer);
  };
  return { version, prefix, manifest, manifestSha256: await sha256Hex(manifestBytes), upload };
}

/**
 * The test artifact as `version`, not registered: the r2Prefix, manifestSha256 and encoder to register it with
 * (so that it loads), and `upload`, which puts its files into R2 (until then it does not load).
 */
export async function stageArtifact(
  version: string,
): Promise<{ r2Prefix: string; manifestSha256: string; encoder: string; upload: () => Promise<void> }> {
  const prepared = await prepareArtifact({ version });
  return { r2Prefix: prepared.prefix, manifestSha256: prepared.manifestSha256, encoder: prepared.manifest.encoder.tag, upload: prepared.upload };
}

export async function publishArtifact(options: PublishOptions = {}): Promise<string> {
  const { version, prefix, manifest, manifestSha256, upload } = await prepareArtifact(options);
  await upload();
  await env.DB.prepare(
    `INSERT OR REPLACE INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder, metrics_json, account_id)
     VALUES (?, ?, ?, ?, ?, '{}', ?)`,
  )
    .bind(version, prefix, manifestSha256, manifest.algorithm, options.registeredEncoder ?? manifest.encoder.tag, options.accountId ?? null)
    .run();
  if (options.activate ?? true) await activate(version, options.accountId ?? null);
  return version;
}

/** Makes `version` the active one of its scope: the global one, or `accountId`'s own. */
export async function activate(version: string, accountId: string | null = null): Promise<void> {
  await env.DB.batch([
    env.DB.prepare("UPDATE model_versions SET active = 0 WHERE active = 1 AND version <> ? AND account_id IS ?").bind(version, accountId),
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

/** The int8 context path's tolerance (docs/model-artifact.md): per text, 1 - cosine <= 1e-5 and |diff| <= 1e-3. */
export const CONTEXT_TOLERANCE = { oneMinusCosine: 1e-5, maxAbs: 1e-3 } as const;

/** The int8 transformer's tolerance (docs/model-artifact.md): per text, 1 - cosine <= 2e-3 and |diff| <= 1e-2;
 *  the graph's dynamically quantised activations can round a tie the other way in ORT's WASM kernels than
 *  in its native ones, and six layers carry it on (seen: 2 texts of 8, worst 1 - cosine 1.0e-3, |diff|
 *  6.8e-3; the other 6 equal to 1e-7). */
export const TRANSFORMER_TOLERANCE = { oneMinusCosine: 2e-3, maxAbs: 1e-2 } as const;

/** > 0 when some row of `actual` ([rows × dim], flat) is further from `expected` than `tolerance`. */
export function worstContextMismatch(actual: ArrayLike<number>, expected: number[][], tolerance: { oneMinusCosine: number; maxAbs: number } = CONTEXT_TOLERANCE): number {
  const dim = expected[0]?.length ?? 0;
  if (actual.length !== expected.length * dim) return Infinity;
  let worst = -Infinity;
  expected.forEach((row, i) => {
    let dot = 0, na = 0, nb = 0, maxAbs = 0;
    for (let k = 0; k < dim; k++) {
      const a = actual[i * dim + k]!, b = row[k]!;
      dot += a * b; na += a * a; nb += b * b;
      maxAbs = Math.max(maxAbs, Math.abs(a - b));
    }
    const oneMinusCosine = na === 0 && nb === 0 ? 0 : 1 - dot / Math.sqrt(na * nb);
    worst = Math.max(worst, oneMinusCosine - tolerance.oneMinusCosine, maxAbs - tolerance.maxAbs);
  });
  return worst;
}
