#!/usr/bin/python3
"""download_server.py - the local HTTP server of test_download.sh: Range, errors, redirects, dropped connections, a Drive-style confirmation page.

usage: download_server.py ROOT PORTFILE LOGFILE [LIFETIME_S]
Serves the files of ROOT on 127.0.0.1 (a free port, written to PORTFILE) under these paths:
  /files/NAME           the file; honours "Range: bytes=START-"
  /drop/NAME            the first request gets half the file, then the connection is cut
  /error/NAME           always HTTP 500
  /flaky/NAME           HTTP 500 twice, then the file
  /redirect/NAME        302 to /files/NAME
  /gdrive?id=NAME       an HTML "can't scan for viruses" page whose form leads to the file
  /gdrive-download?...  the file, when the form's fields (confirm, uuid) came along
Each request is logged to LOGFILE as "PATH range=RANGE". The server stops by itself after
LIFETIME_S seconds (default 300).
"""
import http.server
import os
import sys
import threading
import urllib.parse

ROOT, PORTFILE, LOGFILE = sys.argv[1], sys.argv[2], sys.argv[3]
LIFETIME = float(sys.argv[4]) if len(sys.argv) > 4 else 300.0
seen = {}
lock = threading.Lock()

CONFIRM_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>
<body><div class="uc-main"><p class="uc-warning-subcaption">Google Drive can't scan this file
for viruses.</p><form id="download-form" action="/gdrive-download" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/>
<input type="hidden" name="id" value="{name}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="1b2c-3d&amp;4e">
</form></div></body></html>"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass  # the request log below is the one the test reads

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        kind, _, name = url.path.lstrip("/").partition("/")
        with lock:
            n = seen[url.path] = seen.get(url.path, 0) + 1
            with open(LOGFILE, "a") as log:
                log.write(f"{url.path} range={self.headers.get('Range', '-')}\n")
        if kind == "files":
            self.serve(name)
        elif kind == "drop":
            self.serve(name, cut=n == 1)
        elif kind == "error" or (kind == "flaky" and n <= 2):
            self.reply(500, b"server error\n")
        elif kind == "flaky":
            self.serve(name)
        elif kind == "redirect":
            self.send_response(302)
            self.send_header("Location", f"/files/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "gdrive":
            page = CONFIRM_PAGE.format(name=query.get("id", [""])[0]).encode()
            self.reply(200, page, "text/html; charset=utf-8")
        elif kind == "gdrive-download" and query.get("confirm") == ["t"] and \
                query.get("uuid") == ["1b2c-3d&4e"] and query.get("export") == ["download"]:
            self.serve(query.get("id", [""])[0])
        else:
            self.reply(404, b"not found\n")

    def reply(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve(self, name, cut=False):
        path = os.path.join(ROOT, os.path.basename(name))
        if not name or not os.path.isfile(path):
            return self.reply(404, b"not found\n")
        size = os.path.getsize(path)
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True  # fewer bytes than announced: an abrupt end
            return
        self.wfile.write(data)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # a client hanging up is expected


server = Server(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
threading.Timer(LIFETIME, server.shutdown).start()
server.serve_forever()
