import type { Plugin } from "vite";

// @graphql-yoga/render-graphiql inlines GraphiQL's ~9 MB of assets as string literals. Vite's
// "boundary" source map for that module is far larger than the code and overflows the WebSocket that
// vitest-pool-workers loads modules through ("Message is too large"). An empty map makes Vite keep
// it empty (ssrTransform passes `mappings: ""` through) and vitest then inlines none. Tests only:
// `wrangler dev`/deploy bundle with esbuild and never see this.
export function graphiqlWithoutSourceMap(): Plugin {
  return {
    name: "adaptagent:graphiql-without-source-map",
    enforce: "post",
    transform(code, id) {
      if (!id.includes("/@graphql-yoga/render-graphiql/")) return null;
      // The code must change, or Vite ignores the plugin's map and keeps generating its own.
      return { code: `${code}\n`, map: { mappings: "" } };
    },
  };
}
