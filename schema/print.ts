// `npm run schema:print`: writes the schema as SDL to stdout (redirected to schema.graphql), so schema
// changes show in review. test/graphql/schema.test.ts fails while the committed file is stale.
import { printSchema } from "graphql";
import { schema } from "./index";

console.log(printSchema(schema).trimEnd());
