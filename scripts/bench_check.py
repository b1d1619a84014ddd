"""Opens the published asv dashboard in headless Chromium with no internet access and checks
that its plots are drawn, as a person opening it would see them.

Serves ``HTML_DIR`` (default ``.asv/html``) on 127.0.0.1 (what ``asv preview`` does), and
loads in Chromium, with every host name except 127.0.0.1 made unresolvable:

* the summary grid (``index.html``): one small plot per benchmark;
* one benchmark's graph (``index.html#<benchmark>``, ``--benchmark``; default the fast_gelu
  forward benchmark when it has recorded data, else the first timed benchmark that has).

For each page it writes a screenshot (``--out``, default ``.asv/screenshots``) and the rendered
DOM, and fails (exit status 1) when the page shows asv's "failed to load" message or draws no
flot plot, when the grid does not list every benchmark, or when the graph's screenshot has
hardly any coloured pixels (its plotted series; asv's error page is grey and white).

Chromium: Debian's ``chromium`` package (``apt-get install chromium``; ``make bench-check``
installs it when missing and run as root).
"""

import argparse
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFERRED = "bench_fast_gelu.FastGelu.time_forward"
#: Coloured (saturated) pixels a graph with plotted series has at least in its plot area (one
#: recorded commit: one coloured marker per series); asv's error and "no data" pages have none.
MIN_COLOURED_PIXELS = 200
PLOT_TOP, PLOT_LEFT = 60, 200


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("Chromium not found: install Debian's package with `apt-get install "
                     "chromium` (as root), or run `make bench-check`, which does")


def serve(html_dir):
    handler = functools.partial(_QuietHandler, directory=html_dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def render(browser, url, png, width=1400, height=1000):
    """Screenshot and rendered DOM of ``url`` after its scripts ran (offline)."""
    common = [
        browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", "--disable-background-networking",
        f"--window-size={width},{height}", "--virtual-time-budget=15000",
        # No internet: only the local server resolves.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ]
    with tempfile.TemporaryDirectory() as profile:
        flags = common + [f"--user-data-dir={profile}"]
        subprocess.run(flags + [f"--screenshot={png}", url], check=True, capture_output=True,
                       timeout=180)
        dom = subprocess.run(flags + ["--dump-dom", url], check=True, capture_output=True,
                             text=True, timeout=180).stdout
    return dom


def coloured_pixels(png):
    from PIL import Image

    import numpy as np

    with Image.open(png) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    # The plot area only: below the navigation bar, right of the graph page's side panel (the
    # bar's links and logo are coloured too).
    rgb = rgb[PLOT_TOP:, PLOT_LEFT:]
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 80).sum())


def pick_benchmark(html_dir, wanted):
    """``wanted``, else the preferred benchmark, else the first timed one with recorded data
    (asv shows only results of a benchmark's current code version)."""
    with open(os.path.join(html_dir, "index.json")) as fh:
        index = json.load(fh)
    names = sorted(index["benchmarks"])
    if wanted:
        if wanted not in names:
            raise SystemExit(f"{wanted} is not in the dashboard")
        return wanted
    with_data = set()
    for root, _dirs, files in os.walk(os.path.join(html_dir, "graphs")):
        if os.path.basename(root) != "summary":
            with_data.update(f[:-5] for f in files if f.endswith(".json"))
    ordered = [PREFERRED] + [n for n in names if ".time_" in n] + names
    for name in ordered:
        if name in with_data:
            return name
    raise SystemExit("no benchmark of the dashboard has recorded data")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html_dir", nargs="?", default=os.path.join(REPO, ".asv", "html"))
    parser.add_argument("--out", default=os.path.join(REPO, ".asv", "screenshots"))
    parser.add_argument("--benchmark", help="the benchmark whose graph is opened")
    args = parser.parse_args()

    if not os.path.exists(os.path.join(args.html_dir, "index.json")):
        raise SystemExit(f"no dashboard in {args.html_dir}: run `make bench-publish` first")
    browser = chromium()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.html_dir, "index.json")) as fh:
        n_benchmarks = len(json.load(fh)["benchmarks"])
    benchmark = pick_benchmark(args.html_dir, args.benchmark)
    server = serve(os.path.abspath(args.html_dir))
    base = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    pages = [
        # (name, url, benchmark tiles expected, fewest coloured pixels): the grid lists every
        # benchmark and draws the tiles in view; a graph draws its series in colour.
        ("summary", base, n_benchmarks, 0),
        ("graph", f"{base}#{benchmark}", 0, MIN_COLOURED_PIXELS),
    ]
    failures = []
    try:
        for name, url, tiles, min_colour in pages:
            png = os.path.join(args.out, f"dashboard-{name}.png")
            dom = render(browser, url, png)
            with open(os.path.join(args.out, f"dashboard-{name}.html"), "w") as fh:
                fh.write(dom)
            plots = dom.count('class="flot-base"')
            listed = dom.count('benchmark-container"')
            colour = coloured_pixels(png)
            problems = []
            if "failed to load" in dom:
                problems.append("asv's 'dependencies failed to load' message is shown")
            if "No data for this combination" in dom:
                problems.append("asv shows 'No data for this combination of filters'")
            if plots < 1:
                problems.append("no plot drawn")
            if listed < tiles:
                problems.append(f"{listed} benchmark tiles, expected {tiles}")
            if colour < min_colour:
                problems.append(f"only {colour} coloured pixels in the screenshot")
            status = "FAIL: " + "; ".join(problems) if problems else "ok"
            print(f"{name:8} {url}\n         {plots} plots drawn, {listed} benchmark tiles, "
                  f"{colour} coloured pixels, screenshot {png}: {status}")
            failures += problems
    finally:
        server.shutdown()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
