"""Rebuild the few-shot intent data directory (ADAPTAGENT_DATA_DIR) from its public source.

    python scripts/fetch_data.py --out ../shared/data

Downloads github.com/jianguoz/Few-Shot-Intent-Detection at commit fa95533 (which collects the original
CLINC150, BANKING77 and HWU64 releases with the standard 5/10-shot splits) and converts each
`Datasets/<SET>/<split>/{seq.in,label}` pair to `<set>/<split>.jsonl` lines `{"text", "label"}`.
`splits.json` (label partitions) is written only if absent, with a seeded 60/20/20 shuffle of the sorted
labels: a copy made elsewhere may partition differently from the one these results were measured on, so
keep the original splits.json when you have it. Needs internet; it cannot run inside the sandbox we
develop in. Licences: CLINC150 CC BY 3.0, BANKING77 CC BY 4.0, HWU64 CC BY 4.0 — attribute them.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import tarfile
import urllib.request
from pathlib import Path

SOURCE = "https://codeload.github.com/jianguoz/Few-Shot-Intent-Detection/tar.gz/fa95533"
SETS = {"clinc150": "CLINC150", "banking77": "BANKING77", "hwu64": "HWU64"}
SPLITS = ["train", "valid", "test", "train_5", "train_10"]
SEED = 20261129


def convert(members: dict[str, bytes], out: Path) -> None:
    for name, folder in SETS.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        splits = SPLITS + (["oos/train", "oos/valid", "oos/test"] if name == "clinc150" else [])
        for split in splits:
            texts = members.get(f"Datasets/{folder}/{split}/seq.in")
            labels = members.get(f"Datasets/{folder}/{split}/label")
            if texts is None or labels is None:
                continue
            rows = zip(texts.decode().splitlines(), labels.decode().splitlines(), strict=True)
            target = out / name / (split.replace("oos/", "oos_") + ".jsonl")
            with target.open("w") as f:
                for text, label in rows:
                    f.write(json.dumps({"text": text.strip(), "label": label.strip()}) + "\n")


def write_splits(out: Path) -> None:
    path = out / "splits.json"
    if path.exists():
        return
    label_splits = {}
    for name in SETS:
        labels = sorted({json.loads(l)["label"] for l in (out / name / "train.jsonl").open()})
        random.Random(SEED).shuffle(labels)
        a, b = int(0.6 * len(labels)), int(0.8 * len(labels))
        label_splits[name] = {"meta_train": sorted(labels[:a]), "meta_valid": sorted(labels[a:b]), "meta_test": sorted(labels[b:])}
    cross = {
        t: {
            "meta_train": [f"{s}/train.jsonl" for s in SETS if s != t],
            "meta_valid": [f"{s}/valid.jsonl" for s in SETS if s != t],
            "meta_test": {"support_5": f"{t}/train_5.jsonl", "support_10": f"{t}/train_10.jsonl", "query": f"{t}/test.jsonl"},
        }
        for t in SETS
    }
    path.write_text(json.dumps({"seed": SEED, "cross_dataset": cross, "label_splits": label_splits}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with urllib.request.urlopen(SOURCE) as response:
        archive = tarfile.open(fileobj=io.BytesIO(response.read()), mode="r:gz")
    members = {}
    for member in archive.getmembers():
        if member.isfile():
            path = member.name.split("/", 1)[1]  # drop the "<repo>-<commit>/" prefix
            members[path] = archive.extractfile(member).read()
    convert(members, args.out)
    write_splits(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
