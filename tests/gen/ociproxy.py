#!/usr/bin/env python3
"""ociproxy.py: a small HTTP proxy in front of a registry, for fault tests.

usage: ociproxy.py PORTFILE UPSTREAM_PORT MODE
  MODE pass              forward everything
  MODE flip:HEX          flip one byte in the middle of GET .../blobs/sha256:HEX
  MODE kill:HEX:PID      on the upload of blob sha256:HEX (PUT or PATCH
                         whose URL names it), kill -9 PID (the registry)
                         and drop the connection
  MODE redirect-loop     answer every blob GET with a 307 to itself
  MODE stall:HEX         send half of GET .../blobs/sha256:HEX, log "stalled",
                         then hold the connection for a minute
  MODE bigmanifest       answer manifest GETs with a 5 MiB JSON body
  MODE clen:HEX:DELTA    answer GET .../blobs/sha256:HEX with DELTA bytes
                         more (zeros) or fewer (cut), Content-Length to
                         match: a size other than the descriptor's
  MODE bearer:USER:PASS  a registry wanting bearer tokens: /v2/ requests
                         without "Bearer tok-ukit" get 401 and a challenge
                         naming /token here, which gives the token for
                         basic USER:PASS
Listens on 127.0.0.1, an ephemeral port written to PORTFILE.  The Host
header is passed on unchanged so the registry's Location URLs point back
here.  Logs one line per request to stderr.
"""
import base64
import http.client
import http.server
import os
import signal
import socketserver
import sys

portfile, upstream, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("proxy: " + (fmt % args) + "\n")

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if mode.startswith("bearer:"):
            _, user, pw = mode.split(":")
            if self.path.startswith("/token"):
                want = "Basic " + base64.b64encode(
                    (user + ":" + pw).encode()).decode()
                ok = self.headers.get("Authorization") == want
                body = b'{"token":"tok-ukit"}' if ok else b'{}'
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.headers.get("Authorization") != "Bearer tok-ukit":
                self.rfile.read(n)
                host = self.headers.get("Host")
                self.send_response(401)
                self.send_header("WWW-Authenticate",
                                 'Bearer realm="http://%s/token",'
                                 'service="ukit-test",scope="repository:x:pull"' % host)
                body = b'{"errors":[{"code":"UNAUTHORIZED","message":"token wanted"}]}'
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        if mode == "bigmanifest" and self.command == "GET" and "/manifests/" in self.path:
            body = b'{"schemaVersion":2,"x":"' + b"a" * (5 << 20) + b'"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if mode.startswith("kill:"):
            _, hexd, pid = mode.split(":")
            if self.command in ("PUT", "PATCH") and hexd in self.path:
                # take some of the body, then the registry dies
                self.rfile.read(min(n, 4096))
                os.kill(int(pid), signal.SIGKILL)
                self.close_connection = True
                self.connection.shutdown(2)
                return
        if mode == "redirect-loop" and self.command == "GET" and "/blobs/" in self.path:
            self.send_response(307)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(n) if n else b""
        try:
            c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
            c.putrequest(self.command, self.path, skip_host=True,
                         skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in ("connection", "content-length"):
                    c.putheader(k, v)
            c.putheader("Content-Length", str(len(body)))
            c.endheaders()
            if body:
                c.send(body)
            r = c.getresponse()
            data = r.read()
        except OSError:
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if (mode.startswith("flip:") and self.command == "GET" and
                mode[5:] in self.path and len(data) > 0):
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
        if (mode.startswith("clen:") and self.command == "GET" and
                mode.split(":")[1] in self.path and r.status == 200):
            delta = int(mode.split(":")[2])
            data = data + b"\0" * delta if delta > 0 else data[:len(data) + delta]
        stall = (mode.startswith("stall:") and self.command == "GET" and
                 mode[6:] in self.path)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "content-length",
                                 "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if stall:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            sys.stderr.write("proxy: stalled\n")
            sys.stderr.flush()
            import time
            time.sleep(60)
            return
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


s = S(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
