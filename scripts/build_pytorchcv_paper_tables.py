"""Rebuild data/pytorchcv_paper_weights.csv and data/pytorchcv_architectures.csv.

Not run in CI: it needs PyPI.  Every pytorchcv release from 0.0.1 to the installed one is
fetched with ``pip download pytorchcv==<v> --no-deps`` into a work folder (sdists are built
into wheels by pip), and read there; nothing is installed and no old code enters the package.

1. Weight files.  Each release's ``model_store`` lists ``(name, error code, sha1, release
   tag)``.  Until 2019 the error code is the top-5 error in hundredths of a percent.  For
   each SDM 2020 pytorchcv model (the ``pytorchcv_readme_2019-01`` rows of
   data/reported_accuracy.csv) the paper's file is the model-store entry whose error code
   equals ``round((100 - top5) * 100)`` of that README row; if several files carry that code,
   the one listed by the latest release is taken (the README of January 2019 showed the
   then-current file).  The table records the first and last release listing the file.
2. Architectures.  Each model is built with random initialisation from the paper-era
   pytorchcv (the last release listing its file, at most 0.0.33, the last release of
   January 2019) and from the installed pytorchcv, in subprocesses, and the sdm2020 matrix
   lists are compared.  Where they differ, the zoo's description of the change
   (``htsr_utils.models`` with ``snapshot="paper"``) must reproduce the old shapes exactly,
   else the script stops.

Usage: python scripts/build_pytorchcv_paper_tables.py [--work /tmp/pytorchcv-releases]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from htsr_utils.storage.fileio import atomic_write  # noqa: E402

RELEASES = "https://github.com/osmr/imgclsmob/releases/download"
PAPER_CUTOFF = 33  # pytorchcv 0.0.33, uploaded 2019-01-30: the last release of January 2019
ENTRY = re.compile(r"\('([^']+)',\s*'(\d{4})',\s*'([0-9a-f]{40})',\s*'(v[0-9.]+)'")
# Per-model facts, computed in a subprocess that imports one pytorchcv version.
PROBE = """
import json, sys, torch
from htsr_utils.engine.layers import weight_matrices
names, snapshot, use_zoo = json.loads(sys.argv[1])
out = {}
for name in names:
    try:
        if use_zoo:
            from htsr_utils.models.build import load_model
            model = load_model("pytorchcv_" + name, "random", snapshot=snapshot)
        else:
            from pytorchcv.model_provider import get_model
            model = get_model(name, pretrained=False)
    except Exception as exc:
        out[name] = None
        continue
    state = model.state_dict()
    shapes = [[m.N, m.M] for m in weight_matrices(model, "sdm2020").matrices]
    out[name] = {"params": sum(v.numel() for v in state.values() if v.is_floating_point()),
                 "bytes": sum(v.numel() * v.element_size() for v in state.values()),
                 "shapes": shapes}
print(json.dumps(out))
"""


def wheel(work: Path, minor: int) -> Path:
    """The wheel of pytorchcv 0.0.<minor>, downloaded once into ``work``."""
    folder = work / f"0.0.{minor}"
    found = sorted(folder.glob("pytorchcv-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", f"pytorchcv==0.0.{minor}",
                        "--no-deps", "-q", "-d", str(folder)], check=True)
        found = sorted(folder.glob("pytorchcv-*.whl"))
    return found[0]


def model_store(path: Path) -> list[tuple[str, str, str, str]]:
    """(name, error code, sha1, release tag) of every file a release lists."""
    with zipfile.ZipFile(path) as zf:
        metainfo = [n for n in zf.namelist() if n.endswith("models/common/model_metainfos.csv")]
        if metainfo:  # the last releases keep the store in a CSV
            rows = csv.DictReader(io.StringIO(zf.read(metainfo[0]).decode()))
            return [(r["model_name"], r["error_value"].zfill(4), r["checksum"],
                     r["repo_release_tag"]) for r in rows]
        name = next(n for n in zf.namelist() if n.endswith("model_store.py"))
        return [m.groups() for m in ENTRY.finditer(zf.read(name).decode())]


def extracted(work: Path, minor: int) -> Path:
    target = work / "src" / f"0.0.{minor}"
    if not (target / "pytorchcv").is_dir():
        with zipfile.ZipFile(wheel(work, minor)) as zf:
            zf.extractall(target)
    return target


def probe(names: list[str], pythonpath: list[Path], snapshot: str = "latest",
          use_zoo: bool = False) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, [*pythonpath, REPO])),
               OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps([names, snapshot, use_zoo])],
                            env=env, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def write_csv(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/pytorchcv-releases"))
    args = parser.parse_args()
    import importlib.metadata

    latest = int(importlib.metadata.version("pytorchcv").rsplit(".", 1)[1])
    listed: dict[str, list[list]] = {}  # name -> [code, sha1, tag, first, last]
    for minor in range(1, latest + 1):
        for name, code, sha1, tag in model_store(wheel(args.work, minor)):
            entries = listed.setdefault(name, [])
            same = [e for e in entries if e[1] == sha1]
            if same:
                same[0][4] = minor
            else:
                entries.append([code, sha1, tag, minor, minor])
    with open(REPO / "data" / "reported_accuracy.csv", newline="") as f:
        readme = [r for r in csv.DictReader(f) if r["source"] == "pytorchcv_readme_2019-01"]

    weights, unmatched = [], []
    for row in readme:
        arch, top5 = row["library_model"], float(row["top5"])
        code = f"{round((100 - top5) * 100):04d}"
        candidates = [e for e in listed.get(arch, []) if e[0] == code]
        if not candidates:
            unmatched.append(f"{arch}: no entry with error code {code}")
            continue
        code, sha1, tag, first, last = max(candidates, key=lambda e: e[4])
        file_name = f"{arch}-{code}-{sha1[:8]}.pth"
        weights.append({
            "model": row["model"], "library_model": arch, "top1_2019_01": row["top1"],
            "top5_2019_01": row["top5"], "error_code": code, "sha1": sha1, "release_tag": tag,
            "file_name": file_name, "url": f"{RELEASES}/{tag}/{file_name}.zip",
            "first_pytorchcv": f"0.0.{first}", "last_pytorchcv": f"0.0.{last}",
            "other_files_same_code": ";".join(e[2] for e in candidates if e[1] != sha1),
        })
    write_csv(REPO / "data" / "pytorchcv_paper_weights.csv", weights)
    print(f"{len(weights)} of {len(readme)} models matched; unmatched: {unmatched or 'none'}")

    from htsr_utils.models.paper_era import architectures, paper_architecture_change
    from htsr_utils.models.registry import PYTORCHCV_PREFIX, get_spec, list_models

    era = {w["library_model"]: min(int(w["last_pytorchcv"].rsplit(".", 1)[1]), PAPER_CUTOFF)
           for w in weights}
    names = [get_spec(n).arch for n in list_models(library="pytorchcv")]
    today = probe(names, [])
    paper_zoo = probe(names, [], snapshot="paper", use_zoo=True)
    old: dict[str, dict] = {}
    for minor in sorted(set(era.values())):
        group = [n for n in names if era.get(n) == minor]
        old.update(probe(group, [extracted(args.work, minor)]))
    rows = []
    for name in names:
        model = PYTORCHCV_PREFIX + name
        then, now = old.get(name), today[name]
        if name not in era:  # not in SDM 2020: no paper-era file, today's architecture
            then = None
        elif then is None:
            raise SystemExit(f"{name}: cannot be built by pytorchcv 0.0.{era[name]}")
        change = paper_architecture_change(model) or ""
        if then is None:
            rows.append({"model": model, "library_model": name, "paper_pytorchcv": "",
                         "latest_pytorchcv": f"0.0.{latest}", "change": "", "width_scale": "",
                         "n_matrices_paper": "", "n_matrices_latest": len(now["shapes"]),
                         "params_paper": "", "params_latest": now["params"],
                         "state_dict_mb_paper": "",
                         "state_dict_mb_latest": f"{now['bytes'] / 1e6:.1f}"})
            continue
        if (then["shapes"] != now["shapes"]) != bool(change):
            raise SystemExit(f"{name}: shapes differ={then['shapes'] != now['shapes']} but "
                             f"recorded change={change!r}; update data/pytorchcv_architectures.csv")
        if paper_zoo[name]["shapes"] != then["shapes"] or paper_zoo[name]["params"] != then["params"]:
            raise SystemExit(f"{name}: the zoo's paper snapshot does not rebuild pytorchcv "
                             f"0.0.{era[name]}")
        recorded = architectures().get(model, {})
        rows.append({
            "model": model, "library_model": name,
            "paper_pytorchcv": f"0.0.{era[name]}",
            "latest_pytorchcv": f"0.0.{latest}", "change": change,
            "width_scale": recorded.get("width_scale", ""),
            "n_matrices_paper": len(then["shapes"]), "n_matrices_latest": len(now["shapes"]),
            "params_paper": then["params"], "params_latest": now["params"],
            "state_dict_mb_paper": f"{then['bytes'] / 1e6:.1f}",
            "state_dict_mb_latest": f"{now['bytes'] / 1e6:.1f}",
        })
    write_csv(REPO / "data" / "pytorchcv_architectures.csv", rows)
    print(f"architectures: {sum(bool(r['change']) for r in rows)} of {len(rows)} differ")


if __name__ == "__main__":
    main()
