#!/usr/bin/env python3
"""Trims PaulSonOfLars/telegram-bot-api-spec's api.min.json to the facts the Bot API stand-in
reads (src/botapi/spec.rs): the version, every method's parameters and return types, every
type's fields and subtypes. No documentation prose is kept; two facts that the documentation
states only in prose are kept as data: a field's fixed value ("always \"user\"", "must be
photo") as `const`, and the values a string field can take ("can be either \"private\", ...")
as `one_of`.

    git -C <spec checkout> show HEAD:api.min.json > /tmp/api.min.json
    tools/trim-botapi-spec.py /tmp/api.min.json <commit> > data/botapi/api.json

Standard library only. The output has one method or type per line, so a new API version
reads as a short diff.
"""

import json
import re
import sys

SOURCE = "https://github.com/PaulSonOfLars/telegram-bot-api-spec"
LICENSE = "MIT, Copyright (c) 2020 Paul Larsen; the notice is in data/botapi/LICENSE"

# `always "user"` (object types) and `must be photo` at the end (input types).
CONST = [re.compile(r'always "([^"]+)"'), re.compile(r"\bmust be ([a-z_]+)$")]
# A string field's documented values: `can be either "a", "b" or "c"`, `one of "a", "b"`.
ONE_OF = re.compile(r"\b(can be|one of|either)\b")
QUOTED = re.compile(r'"([^"\s<>/]{1,40})"')


def field(f):
    out = {"name": f["name"], "types": f["types"], "required": f["required"]}
    text = f.get("description", "")
    if f["types"] == ["String"]:
        for rx in CONST:
            m = rx.search(text)
            if m:
                out["const"] = m.group(1)
                break
        else:
            if ONE_OF.search(text):
                values = QUOTED.findall(text[ONE_OF.search(text).start():])
                if values:
                    out["one_of"] = list(dict.fromkeys(values))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: trim-botapi-spec.py <api.min.json> <commit of the spec repository>")
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    methods = [
        {
            "name": m["name"],
            "fields": [field(f) for f in m.get("fields", [])],
            "returns": m["returns"],
        }
        for m in spec["methods"].values()
    ]
    types = []
    for t in spec["types"].values():
        out = {"name": t["name"], "fields": [field(f) for f in t.get("fields", [])]}
        if t.get("subtypes"):
            out["subtypes"] = t["subtypes"]
        types.append(out)
    dump = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    head = {
        "version": spec["version"],
        "release_date": spec["release_date"],
        "source": SOURCE,
        "commit": sys.argv[2],
        "license": LICENSE,
    }
    lines = ["{"]
    lines += [f"{dump(k)}:{dump(v)}," for k, v in head.items()]
    lines.append('"methods":[')
    lines.append(",\n".join(dump(m) for m in methods))
    lines.append('],"types":[')
    lines.append(",\n".join(dump(t) for t in types))
    lines.append("]}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
