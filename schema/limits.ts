// Bounds on a GraphQL document checked with graphql's own lexer (iterative) before the recursive parser
// runs: its nesting (10 000 nested selection sets would otherwise overflow the stack) and its token
// count. The depth limit (QUERY_LIMITS.depth) still decides what a valid operation may ask for; these
// only stop documents no valid operation needs, cheaply and with a typed 400.
//
// The same plugin parses the document, so that every syntax error (a lexer's, like a lone surrogate, or
// the parser's, like an unclosed brace) is the client's: 400 with `GRAPHQL_PARSE_FAILED`, whatever the
// Accept header. It throws before Yoga's own parse step, whose errors Yoga would answer 200 under
// `Accept: application/json`; and it uses this bundle's `graphql`, so the error is one Yoga recognises (a
// GraphQLError from another copy of graphql is masked as an unexpected 500).
import { GraphQLError, Lexer, parse, Source, TokenKind, type DocumentNode } from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";

const OPEN = new Set<string>([TokenKind.BRACE_L, TokenKind.PAREN_L, TokenKind.BRACKET_L]);
const CLOSE = new Set<string>([TokenKind.BRACE_R, TokenKind.PAREN_R, TokenKind.BRACKET_R]);

export interface DocumentLimits {
  nesting: number;
  tokens: number;
}

/** The deepest nesting of {, ( and [ in a document and its token count; stops once past either limit. */
export function documentShape(document: string, limits: DocumentLimits): { nesting: number; tokens: number } {
  const lexer = new Lexer(new Source(document));
  let depth = 0;
  let deepest = 0;
  let tokens = 0;
  for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
    tokens += 1;
    if (OPEN.has(token.kind)) deepest = Math.max(deepest, ++depth);
    else if (CLOSE.has(token.kind)) depth -= 1;
    if (deepest > limits.nesting || tokens > limits.tokens) break;
  }
  return { nesting: deepest, tokens };
}

function parseFailed(message: string, cause?: GraphQLError): GraphQLError {
  return createGraphQLError(message, {
    ...(cause?.source && cause.positions ? { source: cause.source, positions: cause.positions } : {}),
    extensions: { code: "GRAPHQL_PARSE_FAILED", http: { status: 400 } }, // a request error, whatever the Accept
  });
}

/** Parses `source` within the limits, or throws a GRAPHQL_PARSE_FAILED error. */
export function parseWithinLimits(source: string, limits: DocumentLimits): DocumentNode {
  try {
    const shape = documentShape(source, limits);
    if (shape.nesting > limits.nesting) throw parseFailed(`Syntax Error: the document nests deeper than ${limits.nesting} levels.`);
    if (shape.tokens > limits.tokens) throw parseFailed(`Syntax Error: Token limit of ${limits.tokens} exceeded.`);
    return parse(source);
  } catch (error) {
    if (error instanceof GraphQLError) throw error.extensions.code === "GRAPHQL_PARSE_FAILED" ? error : parseFailed(error.message, error);
    throw error;
  }
}

export function documentLimitsPlugin(limits: DocumentLimits): Plugin {
  return {
    onParse({ params, setParsedDocument }) {
      const source = typeof params.source === "string" ? params.source : params.source.body;
      // Yoga's document cache (a later plugin) replaces this document with its cached one when it has it.
      setParsedDocument(parseWithinLimits(source, limits));
    },
  };
}
