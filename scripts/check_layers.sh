#!/usr/bin/env bash
# check_layers.sh - lists the include and call edges between the library's and the CLI's .c files
# and fails if any of them form a circle (files that include or call each other in a loop).
#   scripts/check_layers.sh [-v] [BUILD_DIR]      (default: build)
# -v prints every edge.
# Include edges: a .c file depends on x.c when it includes x.h, directly or through other
# headers. Call edges: from the object files (nm), a .c file depends on the one that defines a
# function or variable it uses. Exit status 0 when there is no circle, 1 when there is, 2 when
# the object files are missing (build first).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec /usr/bin/python3 - "$ROOT" "$@" <<'PYEOF'
import os, re, subprocess, sys

root, args = sys.argv[1], sys.argv[2:]
verbose, build = False, os.path.join(root, "build")
while args:
    a = args.pop(0)
    if a == "-v":
        verbose = True
    else:
        build = os.path.realpath(a)
sources = []
for top in ("src", "cli"):
    for d, _, files in os.walk(os.path.join(root, top)):
        sources += [os.path.relpath(os.path.join(d, f), root) for f in files if f.endswith(".c")]
sources.sort()
source_set = set(sources)
include_dirs = ["src", "include", "cli"]

def resolve(header, including):
    for base in [os.path.dirname(including)] + include_dirs:
        p = os.path.normpath(os.path.join(base, header))
        if os.path.exists(os.path.join(root, p)):
            return p
    return None

includes = {}
def direct_includes(path):
    if path not in includes:
        text = open(os.path.join(root, path), encoding="utf-8").read()
        found = [resolve(h, path) for h in re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M)]
        includes[path] = [h for h in found if h]
    return includes[path]

edges = {s: {} for s in sources}  # from -> {to: reason}
for s in sources:
    seen, todo = set(), list(direct_includes(s))
    while todo:
        h = todo.pop()
        if h in seen:
            continue
        seen.add(h)
        todo += direct_includes(h)
        impl = h[:-2] + ".c"
        if h.endswith(".h") and impl in source_set and impl != s:
            edges[s].setdefault(impl, "includes " + h)

# call edges from the objects CMake built for each source
def object_of(src):
    target = "retinaface_cli.dir" if src.startswith("cli/") else "retinaface_objects.dir"
    return os.path.join(build, "CMakeFiles", target, src + ".o")

objects = {s: object_of(s) for s in sources}
missing = [s for s, o in objects.items() if not os.path.exists(o)]
if missing:
    print(f"check_layers: no object files for {len(missing)} sources under {build} "
          f"(first: {missing[0]}); build first")
    sys.exit(2)
defined, used = {}, {}
for s, o in objects.items():
    out = subprocess.run(["nm", "-P", o], capture_output=True, text=True, check=True).stdout
    used[s] = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            used[s].add(name)
        elif kind in "TDBRCVW" and not name.startswith("."):
            defined.setdefault(name, s)
for s in sources:
    for name in sorted(used[s]):
        t = defined.get(name)
        if t and t != s:
            edges[s].setdefault(t, "calls " + name)

if verbose:
    for s in sources:
        for t, why in sorted(edges[s].items()):
            print(f"{s} -> {t}  ({why})")

# strongly connected components (Tarjan): each one with more than one file is a circle
index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        comps.append(sorted(comp))
for v in sources:
    if v not in index:
        visit(v)
circles = [c for c in comps if len(c) > 1]
n_edges = sum(len(e) for e in edges.values())
print(f"check_layers: {len(sources)} files, {n_edges} edges, {len(circles)} circle(s)")
for c in circles:
    print("circle: " + ", ".join(c))
    for s in c:
        for t, why in sorted(edges[s].items()):
            if t in c:
                print(f"  {s} -> {t}  ({why})")
sys.exit(1 if circles else 0)
PYEOF
