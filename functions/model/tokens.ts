// Tokenising for every edge encoder kind (contract "Encoding a text", step 1): tokenizer.json's ids with
// [CLS] … [SEP], truncated to the manifest's max_tokens the way HF tokenizers truncate (content first,
// then the specials), padding ignored.
import { Tokenizer } from "@huggingface/tokenizers";
import { modelBroken } from "../errors";
import type { Manifest } from "./artifact";

export abstract class EdgeTokenizer {
  abstract readonly dim: number;
  protected readonly sepId: number | null;

  constructor(
    protected readonly tokenizer: Tokenizer,
    readonly maxTokens: number,
  ) {
    const sep = tokenizer.encode("", { add_special_tokens: true }).ids;
    this.sepId = sep.length > 0 ? sep[sep.length - 1]! : null;
  }

  /** tokenizer.json's bytes as the tokenizer the contract names (parsed once, shared by versions with the same file). */
  static parseTokenizer(manifest: Manifest, bytes: ArrayBuffer): Tokenizer {
    let tokenizerJson: object;
    try {
      tokenizerJson = JSON.parse(new TextDecoder().decode(bytes)) as object;
    } catch {
      throw modelBroken(`tokenizer.json of ${manifest.version} is not valid JSON.`);
    }
    // tokenizers.js ignores tokenizer.json's padding section: ids come back unpadded, as the contract wants.
    return new Tokenizer(tokenizerJson, {});
  }

  private untruncated(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: true }).ids;
  }

  /** Encodes one text to its token ids with specials, truncated to max_tokens like HF `truncation=True`. */
  tokenize(text: string): number[] {
    const ids = this.untruncated(text);
    if (ids.length <= this.maxTokens) return ids;
    const cut = ids.slice(0, this.maxTokens - 1);
    if (this.sepId !== null) cut.push(this.sepId);
    return cut;
  }

  /** How many tokens (specials included) the text has before truncation; more than maxTokens: cut. */
  tokenCount(text: string): number {
    return this.untruncated(text).length;
  }

  abstract keptRows(text: string): number[];
  abstract encode(texts: string[]): Promise<Float32Array>;
  abstract encodeRows(rowsPerText: number[][]): Promise<Float32Array>;
  abstract release(): Promise<number>;
}
