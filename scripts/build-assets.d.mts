/** Writes GraphiQL's assets into public/graphiql/assets; returns how many files. */
export function buildAssets(): number;
