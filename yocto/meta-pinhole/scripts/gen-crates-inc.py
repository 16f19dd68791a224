#!/usr/bin/env python3
"""Write the BitBake crate list (pinhole-crates.inc) for the pinhole recipe from Cargo.lock.

Every registry package in the lock becomes a crate:// fetch with the checksum Cargo recorded, so
BitBake downloads exactly the locked crates and checks them. Git or path dependencies cannot be
expressed this way and are refused (the lock has none today).

    gen-crates-inc.py [--lock PATH] [--out PATH|-]

Defaults: the Cargo.lock three levels up (the pinhole repository root) and
recipes-pinhole/pinhole/pinhole-crates.inc inside this layer. The output is deterministic, so
`gen-crates-inc.py --out - | diff - pinhole-crates.inc` tells whether it is up to date.
"""
import argparse
import pathlib
import sys
import tomllib

LAYER = pathlib.Path(__file__).resolve().parent.parent
REGISTRY = "registry+https://github.com/rust-lang/crates.io-index"


def crates(lock_path):
    with open(lock_path, "rb") as f:
        lock = tomllib.load(f)
    found, refused = [], []
    for pkg in lock.get("package", []):
        source = pkg.get("source")
        if source is None:
            continue  # a workspace member: built from the recipe's own source
        if source != REGISTRY or "checksum" not in pkg:
            refused.append(f"{pkg['name']} {pkg['version']} ({source})")
            continue
        found.append((pkg["name"], pkg["version"], pkg["checksum"]))
    if refused:
        sys.exit("gen-crates-inc: only crates.io packages can be fetched by crate://; found:\n  "
                 + "\n  ".join(refused))
    return sorted(found)


def render(entries):
    out = [
        "# Generated from Cargo.lock by yocto/meta-pinhole/scripts/gen-crates-inc.py: do not edit.",
        "# Regenerate after every Cargo.lock change (scripts/lint-yocto-buildroot checks it).",
        "",
    ]
    out += [f'SRC_URI += "crate://crates.io/{n}/{v}"' for n, v, _ in entries]
    out.append("")
    out += [f'SRC_URI[{n}-{v}.sha256sum] = "{c}"' for n, v, c in entries]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lock", default=str(LAYER.parent.parent / "Cargo.lock"))
    ap.add_argument("--out", default=str(LAYER / "recipes-pinhole/pinhole/pinhole-crates.inc"))
    args = ap.parse_args()
    text = render(crates(args.lock))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        pathlib.Path(args.out).write_text(text)
        print(f"gen-crates-inc: {text.count('crate://')} crates -> {args.out}")


if __name__ == "__main__":
    main()
