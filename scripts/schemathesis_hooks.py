"""Schemathesis hooks for scripts/schemathesis.sh.

Some rules of POST /tasks cannot be written in JSON Schema, so the OpenAPI document states them in
words: a task's labels are unique *ignoring case and Unicode normalisation* (it says `uniqueItems`);
a classification example needs a label, one of the task's when it lists them; a generation example
needs an output. Generated bodies are made to follow them (below) before they are sent. In a
generated body, a label that repeats an earlier one that way is dropped, since the schema cannot tell a
client it is invalid; the server refuses such sets (tested in test/functions/tasks.test.ts).
"""
import os
import unicodedata
import zlib

import schemathesis

# An agent that exists (created by scripts/schemathesis.sh): tasks need one, and without tasks the
# stateful phase could never follow POST /tasks' links to executeTask and submitFeedback.
AGENT_ID = os.environ.get("ADAPTAGENT_ST_AGENT_ID")


def _key(label):
    # Broader than the server's key (NFKC + lower case after trimming): a case this filter drops is
    # merely not generated, while one it kept wrongly would be a false failure.
    return unicodedata.normalize("NFKC", label.strip()).casefold() if isinstance(label, str) else label


def _blank(value):
    return value is None


def _examples_fit_kind(body):
    """Each example gets what its task's kind needs, taken from the task's own labels when it has them.

    Only schema-valid values are changed (a missing or null label or output, a label that is a string
    but not one of the task's): a value that breaks the schema on purpose (a negative case) stays.
    """
    examples, labels, kind = body.get("examples"), body.get("labels"), body.get("kind", "classification")
    if not isinstance(examples, list) or "request" in body:
        return body
    listed = isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)
    fitted = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict):
            fitted.append(ex)
        elif kind == "generation":
            output = ex.get("output")  # "" is schema-valid but no answer to learn from
            fitted.append({**ex, "output": "an answer"} if _blank(output) or output == "" else ex)
        elif kind == "classification":
            label = ex.get("label")
            if listed and (_blank(label) or (isinstance(label, str) and _key(label) not in {_key(x) for x in labels})):
                fitted.append({**ex, "label": labels[i % len(labels)]})
            elif not listed and _blank(label):
                fitted.append({**ex, "label": "label"})
            else:
                fitted.append(ex)
        else:
            fitted.append(ex)
    return {**body, "examples": fitted}


@schemathesis.hook
def map_body(ctx, body):
    """Most generated agent ids become the real agent's; each label that only repeats an earlier one's
    key is dropped, so a schema-valid set stays valid."""
    if not isinstance(body, dict):
        return body
    agent = body.get("agentId")
    # Deterministic in the generated id (so a seed reproduces a run): 4 cases in 5 get the real agent.
    if AGENT_ID and isinstance(agent, str) and 1 <= len(agent) <= 64 and zlib.crc32(agent.encode("utf-8", "surrogatepass")) % 5:
        body = {**body, "agentId": AGENT_ID}  # still schema-valid; unknown ids keep 1 case in 5
    body = _examples_fit_kind(body)
    labels = body.get("labels")
    if not isinstance(labels, list) or len(set(map(str, labels))) != len(labels):
        return body  # not a list, or exact duplicates: schema-invalid anyway, the server must refuse it
    seen, kept = set(), []
    for label in labels:
        key = str(_key(label))
        if key not in seen:
            seen.add(key)
            kept.append(label)
    return {**body, "labels": kept}
