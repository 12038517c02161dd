// Vite's ?raw imports (the committed schema.graphql, compared with the built schema).
declare module "*?raw" {
  const text: string;
  export default text;
}
