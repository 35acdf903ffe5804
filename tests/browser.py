"""Headless Chromium for report tests: find (or install, Debian's package) the browser, and measure
a page the way a reader sees it at a given window width.

`measure(html_path, width)` loads a copy of the page with a small script added (the report itself
carries none) that, after load, writes the page height, the viewport width, every image's right
edge and the headings in document order into the DOM, which `--dump-dom` prints.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

BINARIES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_TIMEOUT_S = 600

PROBE = """<script>
addEventListener('load', () => {
  const d = document.documentElement;
  const imgs = [...document.images].filter(i => i.getBoundingClientRect().width > 0);
  const heads = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => ({tag: h.tagName, id: h.id, text: h.textContent}));
  const first = document.querySelector('main') ? document.querySelector('main').firstElementChild : null;
  const out = {height: d.scrollHeight, viewport: d.clientWidth, page_width: d.scrollWidth,
               img_right: imgs.map(i => i.getBoundingClientRect().right), img_natural: imgs.map(i => i.naturalWidth),
               img_shown: imgs.map(i => i.getBoundingClientRect().width), headings: heads,
               first_main_tag: first ? first.tagName : null,
               verdict_bottom: (() => { const h = document.querySelectorAll('h2')[0]; return h ? h.getBoundingClientRect().top + scrollY : null; })(),
               verdict_lines_bottom: (() => { const u = document.querySelector('ul.verdict'); return u ? u.getBoundingClientRect().bottom + scrollY : null; })(),
               notes: [...document.querySelectorAll('details.notes')].map(d => ({open: d.open, summary: d.querySelector('summary').textContent,
                        top: d.getBoundingClientRect().top + scrollY, height: d.getBoundingClientRect().height}))};
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def find_chromium() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium() -> tuple[str | None, str]:
    """(path, '') when Chromium is available, installing Debian's `chromium` if needed and possible;
    else (None, why not). One installer at a time: pytest-xdist's workers may all ask at once."""
    with open(os.path.join(tempfile.gettempdir(), "optimizer-study-chromium.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_chromium()


def _ensure_chromium() -> tuple[str | None, str]:
    path = find_chromium()
    if path:
        return path, ""
    if not shutil.which("apt-get"):
        return None, "chromium is not installed and apt-get is not available to install it"
    if os.geteuid() != 0:
        return None, "chromium is not installed and installing it needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
            if done.returncode:
                return None, f"`{' '.join(cmd)}` failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
    except subprocess.TimeoutExpired:
        return None, f"installing chromium took more than {INSTALL_TIMEOUT_S} s"
    path = find_chromium()
    return (path, "") if path else (None, "apt-get installed chromium but no browser binary was found")


def _run(chromium: str, args: list[str], tmp: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def measure(chromium: str, html_path: Path, tmp: Path, width: int = 1400, height: int = 900) -> dict:
    """Page measurements (see PROBE) of `html_path` rendered at width x height CSS pixels."""
    probe = tmp / "probe.html"
    probe.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
    done = _run(chromium, [f"--window-size={width},{height}", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    if not found:
        raise RuntimeError(f"chromium printed no measurements (exit {done.returncode}): {done.stderr[-500:]}")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def screenshot(chromium: str, html_path: Path, png: Path, tmp: Path, width: int = 1400, height: int = 900) -> Path:
    """The first screen of the page as a PNG."""
    _run(chromium, [f"--window-size={width},{height}", f"--screenshot={png}", html_path.as_uri()], tmp)
    return png
