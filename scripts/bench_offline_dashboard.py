"""Makes a published asv dashboard render with no internet access.

asv 0.6's ``index.html`` loads jQuery, flot (+ time, selection, categories, orderBars),
stupidtable, blueimp md5 and bootstrap from CDNs; without network the page shows only "One or
more external (JavaScript) dependencies of airspeed velocity failed to load". This script puts
local copies of the same libraries under ``<html_dir>/vendor/`` and points every such tag of the
dashboard's HTML at them (run after ``asv publish``; ``scripts/bench.sh`` and the Makefile do).

The copies come from PyPI (``requirements/bench-dashboard.txt``, hash-pinned): downloaded once
with pip into ``.asv/vendor-cache`` and unpacked from there, so later runs need no network.
Each file's SHA-256 is checked against the value recorded below; for jQuery and bootstrap these
are the very hashes asv's own ``integrity`` attributes give for its CDN copies.

Usage: .venv/bin/python scripts/bench_offline_dashboard.py [HTML_DIR]   (default .asv/html)
"""

import base64
import glob
import hashlib
import os
import re
import subprocess
import sys
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO, ".asv", "vendor-cache")
REQUIREMENTS = os.path.join(REPO, "requirements", "bench-dashboard.txt")
BUILD_CONSTRAINTS = os.path.join(REPO, "requirements", "bench-dashboard-build.txt")

# (archive prefix, member path inside it, local path under vendor/, sha256 (SRI form)).
FILES = [
    ("XStatic-jQuery-3.3.1.1", "xstatic/pkg/jquery/data/jquery.min.js", "jquery-3.3.1.min.js",
     "FgpCb/KJQlLNfOu91ta32o/NMZxltwRo8QtmkMRdAu8="),
    ("XStatic-Bootstrap-3.1.1.2", "xstatic/pkg/bootstrap/data/js/bootstrap.min.js",
     "bootstrap-3.1.1/js/bootstrap.min.js", "iY0FoX8s/FEg3c26R6iFw3jAtGbzDwcA5QJ1fiS0A6E="),
    ("XStatic-Bootstrap-3.1.1.2", "xstatic/pkg/bootstrap/data/css/bootstrap.min.css",
     "bootstrap-3.1.1/css/bootstrap.min.css", "6VA0SGkrc43SYPvX98q/LhHwm2APqX5us6Vuulsafps="),
    *[("XStatic-Bootstrap-3.1.1.2", f"xstatic/pkg/bootstrap/data/fonts/{name}",
       f"bootstrap-3.1.1/fonts/{name}", None)
      for name in ("glyphicons-halflings-regular.eot", "glyphicons-halflings-regular.svg",
                   "glyphicons-halflings-regular.ttf", "glyphicons-halflings-regular.woff")],
    ("asv-0.5.1", "asv/www/vendor/jquery.flot-0.8.3.min.js", "jquery.flot-0.8.3.min.js",
     "1x/oXNDtm9z58WDtMXawTtkV5hhs+H94feJNHN05J18="),
    ("asv-0.5.1", "asv/www/vendor/jquery.flot-0.8.3.time.min.js",
     "jquery.flot-0.8.3.time.min.js", "wbGH2Wwnn9cz9ucaxhx7+z3vMqOgpUyJq6jKkgwk/B4="),
    ("asv-0.5.1", "asv/www/vendor/jquery.flot-0.8.3.selection.min.js",
     "jquery.flot-0.8.3.selection.min.js", "MCA2scsFcrCm4Pwz8N5wiNZ/7nBhlOPW31DwMBGlhn0="),
    ("asv-0.5.1", "asv/www/vendor/jquery.flot-0.8.3.categories.min.js",
     "jquery.flot-0.8.3.categories.min.js", "DZlz0BIyAFVFyxangxUZpRrAqqVcTiRBvmLHUjFnodg="),
    ("asv-0.5.1", "asv/www/vendor/jquery.flot.orderBars.js", "jquery.flot.orderBars.js",
     "b3DJ1Cj3FM4y3S+PsKTRefZuMQJpEsPXI9mmUKkhA5w="),
    ("asv-0.5.1", "asv/www/vendor/stupidtable.js", "stupidtable.js",
     "cS/zl6VWAPg5nVvXIo0HipTZLgggLU5PGwhbK63rsYk="),
    ("asv-0.5.1", "asv/www/vendor/md5.js", "md5.js",
     "tCQ/BldMlN2vWe5gAiNoNb5svoOgVUhlUgv7UjONKKQ="),
    ("asv-0.5.1", "LICENSE.rst", "LICENSE-asv.rst", None),
]

# What asv's index.html loads from a CDN (a substring of the URL) -> the local copy.
REPLACEMENTS = {
    "jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "flot/0.8.3/jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "flot/0.8.3/jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "flot/0.8.3/jquery.flot.selection.min.js": "jquery.flot-0.8.3.selection.min.js",
    "flot/0.8.3/jquery.flot.categories.min.js": "jquery.flot-0.8.3.categories.min.js",
    "flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "stupidtable/1.0.1/stupidtable.min.js": "stupidtable.js",
    "blueimp-md5/2.19.0/js/md5.min.js": "md5.js",
    "bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap-3.1.1/js/bootstrap.min.js",
    "bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap-3.1.1/css/bootstrap.min.css",
}

TAG = re.compile(r"<(script|link)\b[^>]*?(?:src|href)=\"(https://[^\"]+)\"[^>]*>")


def sri(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def archives():
    """{archive prefix: path}, downloading the pinned archives into the cache if missing."""
    wanted = {prefix for prefix, *_ in FILES}
    found = {}
    for prefix in wanted:
        paths = glob.glob(os.path.join(CACHE, f"{prefix}.tar.gz"))
        if paths:
            found[prefix] = paths[0]
    if len(found) < len(wanted):
        os.makedirs(CACHE, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--require-hashes", "-r", REQUIREMENTS,
                        "--build-constraint", BUILD_CONSTRAINTS, "-d", CACHE], check=True)
        return archives()
    return found


def unpack(html_dir):
    vendor = os.path.join(html_dir, "vendor")
    paths = archives()
    for prefix, member, local, digest in FILES:
        with tarfile.open(paths[prefix]) as tar:
            data = tar.extractfile(f"{prefix}/{member}").read()
        if digest is not None and sri(data) != digest:
            raise SystemExit(f"{prefix}/{member}: sha256-{sri(data)}, expected sha256-{digest}")
        target = os.path.join(vendor, local)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(data)


def rewrite(path):
    """Point the CDN tags of one HTML file at vendor/; return how many were replaced."""
    with open(path) as fh:
        html = fh.read()
    count = 0

    def local(match):
        nonlocal count
        kind, url = match.group(1), match.group(2)
        for needle, name in REPLACEMENTS.items():
            if url.endswith(needle):
                count += 1
                if kind == "script":
                    return f'<script src="vendor/{name}" onerror="js_load_failure()">'
                return f'<link rel="stylesheet" href="vendor/{name}">'
        return match.group(0)

    html = TAG.sub(local, html)
    left = [url for _, url in TAG.findall(html)]
    if left:
        raise SystemExit(f"{path}: no local copy for {left}")
    with open(path, "w") as fh:
        fh.write(html)
    return count


def main():
    html_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".asv", "html")
    if not os.path.exists(os.path.join(html_dir, "index.html")):
        raise SystemExit(f"{html_dir}/index.html not found: run `asv publish` first")
    unpack(html_dir)
    replaced = sum(rewrite(p) for p in glob.glob(os.path.join(html_dir, "*.html")))
    print(f"{html_dir}: {replaced} CDN references now load from vendor/ (offline)")


if __name__ == "__main__":
    main()
