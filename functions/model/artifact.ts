// The artifact contract (docs/model-artifact.md) as the Worker reads it: the manifest's shape, and
// fetching + sha256-verifying its files from R2. Anything off-contract is MODEL_UNAVAILABLE, never a crash.
import { z } from "zod";
import { modelBroken } from "../errors";
import { calibrationSchema } from "./confidence";
import { lexicalSchema } from "./lexical";

const tensorSpec = z.object({ name: z.string(), dtype: z.string(), shape: z.array(z.union([z.string(), z.number()])) });

const fileSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "a plain file name"),
  role: z.string().optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  inputs: z.array(tensorSpec).optional(),
  outputs: z.array(tensorSpec).optional(),
});

const encoderSchema = z.object({
  kind: z.string(),
  tag: z.string().min(1),
  teacher: z.string().optional(),
  dim: z.number().int().positive(),
  rows: z.number().int().positive().optional(),
  vocab_size: z.number().int().positive().optional(),
  max_tokens: z.number().int().min(2),
  special_ids: z.array(z.number().int()).default([]),
  layer_norm_eps: z.number().positive().optional(), // transformer kind: the embedding layer's LayerNorm
  files: z.record(z.string(), z.string()).default({}),
  // Present when the artifact ships context.onnx (files.context): the tiny transformer over the rows.
  context: z
    .object({ static_tag: z.string(), layers: z.number().int().positive(), max_positions: z.number().int().positive() })
    .passthrough()
    .optional(),
});

export const manifestSchema = z.object({
  format: z.literal("adaptagent-model/1"),
  version: z.string().min(1),
  algorithm: z.string().min(1),
  encoder: encoderSchema,
  features: z.number().int().positive(),
  adaptation: z
    .object({
      steps: z.number().int().nonnegative(),
      // refine.onnx: rounds of further solver steps after adapt.onnx, as many as `refineRounds` allows
      refine: z
        .object({
          file: z.string().regex(/^[A-Za-z0-9_.-]+\.onnx$/, "a plain .onnx file name"),
          steps: z.number().int().positive(),
          max_rounds: z.number().int().positive(),
          budget: z.number().int().nonnegative(),
        })
        .optional(),
    })
    .passthrough(),
  files: z.array(fileSchema).min(1),
  metrics: z.record(z.string(), z.unknown()).default({}),
  golden: z.string().optional(),
  tolerance: z.object({ atol: z.number(), rtol: z.number() }).optional(),
  // The in-scope factor of the reported confidence (functions/model/confidence.ts); absent: plain softmax.
  calibration: calibrationSchema.optional(),
  lexical: lexicalSchema.optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;

/** The encoder kinds this Worker runs inside a 128 MB isolate: the static table, and the int8 transformer
 *  whose word table is looked up in TypeScript (a transformer with its tables inside ONNX, files.graph
 *  absent, is refused: its embedding Gather alone costs ORT's heap twice the isolate budget). */
export const EDGE_ENCODER_KINDS = ["static", "transformer"] as const;

export async function sha256Hex(bytes: BufferSource): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function getObject(bucket: R2Bucket, key: string): Promise<ArrayBuffer> {
  const object = await bucket.get(key);
  if (!object) throw modelBroken(`The model artifact file ${key} is missing from R2.`);
  return object.arrayBuffer();
}

/** Reads and checks manifest.json against the hash registered in D1, then against the contract. */
export async function readManifest(bucket: R2Bucket, prefix: string, expectedSha256: string): Promise<Manifest> {
  const bytes = await getObject(bucket, `${prefix}manifest.json`);
  const actual = await sha256Hex(bytes);
  if (actual !== expectedSha256.toLowerCase()) {
    throw modelBroken(`${prefix}manifest.json does not match the sha256 registered for this ModelVersion.`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw modelBroken(`${prefix}manifest.json is not valid JSON.`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => i.path.join(".") || "(root)").join(", ");
    throw modelBroken(`${prefix}manifest.json does not follow docs/model-artifact.md (at ${where}).`);
  }
  const kind = parsed.data.encoder.kind;
  if (!(EDGE_ENCODER_KINDS as readonly string[]).includes(kind)) {
    throw modelBroken(
      `ModelVersion ${parsed.data.version} uses a "${kind}" encoder (${parsed.data.encoder.tag}); this Worker runs only ` +
        `${EDGE_ENCODER_KINDS.join(", ")} encoders, which fit a 128 MB isolate. Publish the edge artifact instead.`,
    );
  }
  if (kind === "transformer" && !parsed.data.encoder.files.graph) {
    throw modelBroken(
      `ModelVersion ${parsed.data.version} uses a "transformer" encoder with its word table inside ONNX (no files.graph); ` +
        `that graph does not fit a 128 MB isolate. Export the layers-only graph (docs/model-artifact.md).`,
    );
  }
  return parsed.data;
}

/** Fetches every named file, checking its size and sha256 against the manifest. */
export async function readFiles(bucket: R2Bucket, prefix: string, manifest: Manifest, names: string[]): Promise<Map<string, ArrayBuffer>> {
  const out = new Map<string, ArrayBuffer>();
  await Promise.all(
    names.map(async (name) => {
      const entry = manifest.files.find((f) => f.name === name);
      if (!entry) throw modelBroken(`The manifest of ${manifest.version} does not list ${name}.`);
      const bytes = await getObject(bucket, `${prefix}${name}`);
      if (bytes.byteLength !== entry.bytes || (await sha256Hex(bytes)) !== entry.sha256) {
        throw modelBroken(`${prefix}${name} is corrupt: its size or sha256 differs from the manifest.`);
      }
      out.set(name, bytes);
    }),
  );
  return out;
}
