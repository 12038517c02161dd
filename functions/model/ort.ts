// onnxruntime-web inside workerd (see ../shared/docs/recipes.md, "onnxruntime-web inside workerd").
// Workers never compile WebAssembly from bytes at run time, so the ORT wasm comes in as a module that
// wrangler compiled at build time, and ORT's glue (which insists on bytes) is handed that Module by
// wrapping WebAssembly.instantiate during the first backend initialisation only. The backend is
// initialised once per isolate; every session after the first costs about a millisecond.
import * as ort from "onnxruntime-web/wasm";
import ortWasm from "onnxruntime-web/ort-wasm-simd-threaded.wasm";

// ORT checks that wasmBinary is set, then passes it to WebAssembly.instantiate; this marker is what
// the wrapper recognises and swaps for the precompiled Module.
const MARKER = new TextEncoder().encode("adaptagent:precompiled-ort-wasm");
let backendReady: Promise<void> | null = null;

/** How many times the ORT backend was initialised in this isolate (a test guards that it stays 1). */
export let backendInitialisations = 0;

function initBackend(): Promise<void> {
  ort.env.wasm.numThreads = 1; // no SharedArrayBuffer threads in Workers
  ort.env.wasm.proxy = false; // no Web Worker proxy either
  ort.env.wasm.wasmBinary = MARKER;
  ort.env.logLevel = "error";
  const original = WebAssembly.instantiate;
  const wrapped = ((source: unknown, imports?: WebAssembly.Imports) => {
    if (source instanceof Uint8Array && source.byteLength === MARKER.byteLength && source.every((b, i) => b === MARKER[i])) {
      rememberWasmMemory(imports);
      return original(ortWasm, imports).then((instance) => ({ instance, module: ortWasm }));
    }
    return (original as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
  }) as typeof WebAssembly.instantiate;
  WebAssembly.instantiate = wrapped;
  backendInitialisations += 1;
  // A tiny session forces the backend to initialise now, while the wrapper is in place.
  return ort.InferenceSession.create(IDENTITY_MODEL)
    .then(() => undefined)
    .finally(() => {
      WebAssembly.instantiate = original;
    });
}

/**
 * ONNX Runtime's WebAssembly memory, imported by its module: a linear memory only ever grows, so its
 * size is the high-water mark of everything the sessions allocated, a part of the process's memory that
 * V8's heap statistics do not show. Published under a registered symbol for the load bench, which reads
 * it through workerd's inspector beside the live JavaScript heap (bench/lib.mjs `connectInspector`).
 */
export const WASM_MEMORY_SYMBOL = Symbol.for("adaptagent.ortWasmMemory");

function rememberWasmMemory(imports: WebAssembly.Imports | undefined): void {
  for (const module of Object.values(imports ?? {})) {
    for (const value of Object.values(module)) {
      if (value instanceof WebAssembly.Memory) (globalThis as Record<symbol, unknown>)[WASM_MEMORY_SYMBOL] = value;
    }
  }
}

/** Bytes of ONNX Runtime's WebAssembly memory in this isolate; 0 before the backend is up. */
export function wasmMemoryBytes(): number {
  const memory = (globalThis as Record<symbol, unknown>)[WASM_MEMORY_SYMBOL];
  return memory instanceof WebAssembly.Memory ? memory.buffer.byteLength : 0;
}

/** Brings the ORT backend up once per isolate (also called by benchmarks to separate its memory). */
export function ensureBackend(): Promise<void> {
  if (!backendReady) {
    backendReady = initBackend().catch((error: unknown) => {
      backendReady = null; // let a later request retry a failed initialisation
      throw error;
    });
  }
  return backendReady;
}

/** Creates a session from model bytes; the first call in an isolate also initialises the backend. */
export async function createSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  await ensureBackend();
  return ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
}

export const Tensor = ort.Tensor;
export type Tensor = ort.Tensor;
export type Session = ort.InferenceSession;

/** Sessions freed by a release(): ORT's own resolves to nothing (1 freed); a shared handle's (the
 *  loader's, functions/model/loader.ts) to how many it freed, 0 while another version still uses it. */
export const releasedCount = (released: unknown): number => (typeof released === "number" ? released : 1);

// A hand-written ONNX Identity model (float input "x" -> output "y"), 60-odd bytes, used only to bring
// the backend up at a moment we control.
const IDENTITY_MODEL = Uint8Array.from(
  atob(
    "CAg6OAoQCgF4EgF5IghJZGVudGl0eRICaWRaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAR",
  ),
  (c) => c.charCodeAt(0),
);
