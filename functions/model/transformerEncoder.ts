// The edge transformer (contract "Encoding a text", transformer kind), reproducing training's
// TransformerEncoder.encode: tokenizer.json ids truncated to max_tokens, the embedding layer here in
// TypeScript (int8 word row × its scale + position row, LayerNorm in float64), then the six int8 layers
// in ORT, which return the mean-pooled, L2-normalised embedding. The word table stays an Int8Array over
// the bytes R2 returned: inside ORT the same table would cost several times its size in the wasm heap.
import type { Tokenizer } from "@huggingface/tokenizers";
import { modelBroken } from "../errors";
import type { Manifest } from "./artifact";
import { releasedCount, Tensor, type Session } from "./ort";
import { EdgeTokenizer } from "./tokens";

export class TransformerEncoder extends EdgeTokenizer {
  readonly dim: number;
  private readonly eps: number;
  private readonly gamma: Float32Array;
  private readonly beta: Float32Array;
  private readonly clsId: number;

  constructor(
    tokenizer: Tokenizer,
    private readonly table: Int8Array,
    private readonly scales: Float32Array,
    private readonly positions: Float32Array,
    norm: Float32Array,
    encoder: Manifest["encoder"],
    private readonly graph: Session,
  ) {
    super(tokenizer, encoder.max_tokens);
    this.dim = encoder.dim;
    this.eps = encoder.layer_norm_eps ?? 1e-12;
    this.gamma = norm.subarray(0, this.dim);
    this.beta = norm.subarray(this.dim, 2 * this.dim);
    this.clsId = tokenizer.encode("", { add_special_tokens: true }).ids[0] ?? 101;
  }

  static create(manifest: Manifest, files: Map<string, ArrayBuffer>, graph: Session, tokenizer: Tokenizer): TransformerEncoder {
    const enc = manifest.encoder;
    const f = enc.files;
    const need = (role: string) => {
      const bytes = f[role] ? files.get(f[role]!) : undefined;
      if (!bytes) throw modelBroken(`The transformer encoder of ${manifest.version} names no ${role} file.`);
      return bytes;
    };
    const table = new Int8Array(need("word_table"));
    const scales = new Float32Array(need("word_scales"));
    const positions = new Float32Array(need("positions"));
    const norm = new Float32Array(need("layer_norm"));
    const rows = scales.length;
    if (table.length !== rows * enc.dim || (enc.vocab_size !== undefined && enc.vocab_size !== rows)) {
      throw modelBroken(`The word table of ${manifest.version} is not [vocab=${rows}, dim=${enc.dim}].`);
    }
    if (positions.length < enc.max_tokens * enc.dim || norm.length !== 2 * enc.dim) {
      throw modelBroken(`The position rows or LayerNorm of ${manifest.version} do not cover ${enc.max_tokens} tokens × ${enc.dim}.`);
    }
    return new TransformerEncoder(tokenizer, table, scales, positions, norm, enc, graph);
  }

  /** Releases the graph's ORT session (the loader calls it when the version is replaced). */
  async release(): Promise<number> {
    return releasedCount(await this.graph.release());
  }

  /** The inner ids (between [CLS] and [SEP]): the lexical evidence's tokens. */
  rowsOf(ids: number[]): number[] {
    return ids.slice(1, -1);
  }

  async encode(texts: string[]): Promise<Float32Array> {
    return this.encodeRows(texts.map((text) => this.keptRows(text)));
  }

  /** Embeddings [texts × dim] from each text's inner ids, one graph run per text: the graph quantises
   *  each run's activations, so batching would make one text's embedding depend on another's. */
  async encodeRows(rowsPerText: number[][]): Promise<Float32Array> {
    const out = new Float32Array(rowsPerText.length * this.dim);
    for (let t = 0; t < rowsPerText.length; t++) {
      // Between texts, other requests on this isolate get their turn: one text (≤ max_tokens) is the
      // longest this loop holds the isolate.
      if (t > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      const ids = [this.clsId, ...rowsPerText[t]!, this.sepId ?? 102];
      const result = await this.graph.run({
        hidden: new Tensor("float32", this.hidden(ids), [1, ids.length, this.dim]),
        attention_mask: new Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
      });
      const embedding = result.embedding?.data as Float32Array | undefined;
      if (!embedding || embedding.length !== this.dim) throw modelBroken(`The transformer graph did not return embedding [1, ${this.dim}].`);
      out.set(embedding, t * this.dim);
    }
    return out;
  }

  /** The embedding layer's output [T × dim] (contract step 2): the same float64 operations in the same
   *  order as training's TransformerEncoder.hidden, so both sides hand the graph the same bits. */
  hidden(ids: number[]): Float32Array {
    const dim = this.dim;
    const out = new Float32Array(ids.length * dim);
    const row = new Float64Array(dim);
    ids.forEach((id, t) => {
      const scale = this.scales[id] ?? 0;
      const base = id * dim;
      const pos = t * dim;
      let mean = 0;
      for (let d = 0; d < dim; d++) mean += row[d] = this.table[base + d]! * scale + this.positions[pos + d]!;
      mean /= dim;
      let variance = 0;
      for (let d = 0; d < dim; d++) {
        const c = row[d]! - mean;
        variance += c * c;
      }
      const inv = 1 / Math.sqrt(variance / dim + this.eps);
      for (let d = 0; d < dim; d++) out[pos + d] = (row[d]! - mean) * inv * this.gamma[d]! + this.beta[d]!;
    });
    return out;
  }
}
