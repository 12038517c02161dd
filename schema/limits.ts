// A bound on a GraphQL document's nesting, checked with graphql's own lexer (iterative) before the
// recursive parser runs: 10 000 nested selection sets would otherwise overflow the stack (a 500). The
// depth limit (QUERY_LIMITS.depth) still decides what a valid operation may ask for; this only stops
// documents no valid operation needs, cheaply and with a typed 400.
import { Lexer, Source, TokenKind } from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";

const OPEN = new Set<string>([TokenKind.BRACE_L, TokenKind.PAREN_L, TokenKind.BRACKET_L]);
const CLOSE = new Set<string>([TokenKind.BRACE_R, TokenKind.PAREN_R, TokenKind.BRACKET_R]);

/** The deepest nesting of {, ( and [ in a document; stops counting once past `limit`. */
export function documentNesting(document: string, limit: number): number {
  const lexer = new Lexer(new Source(document));
  let depth = 0;
  let deepest = 0;
  for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
    if (OPEN.has(token.kind)) deepest = Math.max(deepest, ++depth);
    else if (CLOSE.has(token.kind)) depth -= 1;
    if (deepest > limit) break;
  }
  return deepest;
}

export function maxNestingPlugin(limit: number): Plugin {
  return {
    onParse({ params }) {
      const source = typeof params.source === "string" ? params.source : params.source.body;
      let nesting: number;
      try {
        nesting = documentNesting(source, limit);
      } catch {
        return; // not lexable: the parser reports the syntax error itself
      }
      if (nesting > limit) {
        throw createGraphQLError(`Syntax Error: the document nests deeper than ${limit} levels.`, {
          extensions: { code: "GRAPHQL_PARSE_FAILED", http: { status: 400 } }, // a request error, whatever the Accept
        });
      }
    },
  };
}
