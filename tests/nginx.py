"""Debian's nginx serving a dist with the nginx.conf `wbspawn build` generated, as a user
would include it: on 127.0.0.1, a free port, every path under a temp prefix, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")
MIME_TYPES = Path("/etc/nginx/mime.types")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main_config(dist: Path, prefix: Path, port: int) -> str:
    """A whole nginx.conf whose one server includes the dist's generated snippet."""
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    # As root, the workers would run as `nobody`, who may not read a pytest temp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {dist};
        include {dist / "nginx.conf"};
    }}
}}
"""


def check_config(dist: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the config: whether nginx accepts the generated snippet."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(dist, prefix, free_port()))
    return subprocess.run(
        [str(NGINX), "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def serving(dist: Path, prefix: Path) -> Iterator[str]:
    """nginx in the foreground of a process of ours; yields its base URL."""
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(dist, prefix, port))
    proc = subprocess.Popen(
        [str(NGINX), "-p", str(prefix), "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    url, timeout=5
                ):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
