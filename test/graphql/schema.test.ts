import { isInputObjectType, isObjectType, printSchema } from "graphql";
import { describe, expect, it } from "vitest";
import committed from "../../schema.graphql?raw";
import { schema } from "../../schema/index";

describe("schema.graphql", () => {
  it("is the printed schema (run `npm run schema:print` after changing schema/)", () => {
    expect(committed.trimEnd()).toBe(printSchema(schema).trimEnd());
  });

  it("has no field or argument that could carry an API key or secret", () => {
    const names: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith("__")) continue;
      if (isObjectType(type)) {
        for (const field of Object.values(type.getFields())) names.push(field.name, ...field.args.map((a) => a.name));
      } else if (isInputObjectType(type)) {
        names.push(...Object.keys(type.getFields()));
      }
    }
    expect(names.length).toBeGreaterThan(100);
    expect(names.filter((n) => /key|secret|token$|password/i.test(n))).toEqual([]);
  });
});
