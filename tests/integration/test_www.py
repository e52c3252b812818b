"""
The web client's files (src/www.c), without a browser: what / and every
other path but /ws and /healthz answer, their Content-Type, the ETag and
304, the security headers on every answer, HEAD, methods, and paths that
try to leave www_root (.., %2e%2e, encoded slashes, NUL, hidden files, a
symbolic link out), which all get 404.
"""

import os
import re
import tempfile

import harness
from harness import Sock, http_request, plain_request, read_response

CSP_RE = re.compile(r"^default-src 'self'; connect-src 'self' "
                    r"ws://(\S+) wss://(\S+)(;.*)?$")


class WwwTest(harness.WschatTestCase):

    def make_root(self):
        """A www_root of our own, with a file of each kind and a secret
        outside it that a symbolic link inside points to."""
        base = tempfile.mkdtemp(prefix="wschat-www-")
        root = os.path.join(base, "www")
        os.makedirs(os.path.join(root, "sub"))
        files = {
            "index.html": b"<!doctype html><title>t</title>\n",
            "app.js": b"export const x = 1;\n",
            "style.css": b"body { color: black }\n",
            "data.json": b"{}\n",
            "logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
            "blob.bin": b"\x00\x01\x02",
            "empty.txt": b"",
            "sub/index.html": b"<p>sub</p>\n",
            ".hidden": b"hidden\n",
        }
        for name, data in files.items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        with open(os.path.join(base, "secret.txt"), "wb") as f:
            f.write(b"secret\n")
        os.symlink(os.path.join(base, "secret.txt"),
                   os.path.join(root, "link.txt"))
        return root, files

    def get(self, d, path, method="GET", headers=None):
        req = plain_request(d.hostport, path, method, headers)
        if method == "HEAD":
            s = Sock(d.port)
            try:
                s.sendall(req)
                return read_response(s, body=False)
            finally:
                s.close()
        return http_request(d.port, req)

    def assert_security_headers(self, resp, d, what):
        csp = resp.header("Content-Security-Policy")
        m = CSP_RE.match(csp or "")
        self.assertIsNotNone(m, "%s: CSP %r" % (what, csp))
        self.assertEqual(m.group(1), d.hostport, "%s: ws: of our host" % what)
        self.assertEqual(m.group(2), d.hostport, "%s: wss: of our host" % what)
        self.assertEqual(resp.header("X-Content-Type-Options"), "nosniff",
                         what)
        self.assertEqual(resp.header("Referrer-Policy"), "no-referrer", what)

    def test_content_types_and_bodies(self):
        root, files = self.make_root()
        d = self.daemon(www_root=root)
        for path, name, ctype in (
                ("/", "index.html", "text/html; charset=utf-8"),
                ("/index.html", "index.html", "text/html; charset=utf-8"),
                ("/app.js", "app.js", "text/javascript; charset=utf-8"),
                ("/style.css", "style.css", "text/css; charset=utf-8"),
                ("/data.json", "data.json", "application/json"),
                ("/logo.svg", "logo.svg", "image/svg+xml"),
                ("/blob.bin", "blob.bin", "application/octet-stream"),
                ("/empty.txt", "empty.txt", "text/plain; charset=utf-8"),
                ("/sub/", "sub/index.html", "text/html; charset=utf-8"),
                ("/app.js?v=2", "app.js", "text/javascript; charset=utf-8")):
            resp = self.get(d, path)
            self.assertEqual(resp.status, 200, "%s: %r" % (path, resp))
            self.assertEqual(resp.header("Content-Type"), ctype, path)
            self.assertEqual(resp.body, files[name], path)
            self.assertEqual(resp.header("Cache-Control"), "no-cache", path)
            self.assert_security_headers(resp, d, path)

    def test_etag_and_304(self):
        root, files = self.make_root()
        d = self.daemon(www_root=root)
        first = self.get(d, "/app.js")
        etag = first.header("ETag")
        self.assertRegex(etag or "", r'^"[^"]+"$', "a strong ETag: %r" % first)
        again = self.get(d, "/app.js")
        self.assertEqual(again.header("ETag"), etag, "the ETag is stable")
        for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
            resp = self.get(d, "/app.js", headers={"If-None-Match": inm})
            self.assertEqual(resp.status, 304, "If-None-Match %s: %r"
                             % (inm, resp))
            self.assertEqual(resp.body, b"", "a 304 has no body")
            self.assertEqual(resp.header("ETag"), etag)
            self.assert_security_headers(resp, d, "304")
        resp = self.get(d, "/app.js", headers={"If-None-Match": '"other"'})
        self.assertEqual(resp.status, 200, "another ETag: %r" % resp)
        self.assertEqual(resp.body, files["app.js"])
        # A changed file has another ETag, and the old one no longer matches.
        with open(os.path.join(root, "app.js"), "ab") as f:
            f.write(b"// changed\n")
        resp = self.get(d, "/app.js", headers={"If-None-Match": etag})
        self.assertEqual(resp.status, 200, "a changed file: %r" % resp)
        self.assertNotEqual(resp.header("ETag"), etag)
        self.assertTrue(resp.body.endswith(b"// changed\n"))
        # Another file's ETag is not this one's.
        other = self.get(d, "/style.css").header("ETag")
        self.assertNotEqual(other, resp.header("ETag"))

    def test_head_and_methods(self):
        root, files = self.make_root()
        d = self.daemon(www_root=root)
        resp = self.get(d, "/index.html", method="HEAD")
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertEqual(resp.header("Content-Length"),
                         str(len(files["index.html"])))
        self.assertEqual(resp.header("Content-Type"), "text/html; charset=utf-8")
        self.assertIsNotNone(resp.header("ETag"))
        for method in ("POST", "PUT", "DELETE"):
            resp = self.get(d, "/index.html", method=method,
                            headers={"Content-Length": "0"})
            self.assertEqual(resp.status, 405, "%s: %r" % (method, resp))
            self.assertEqual(resp.header("Allow"), "GET, HEAD")

    def test_traversal_and_hidden_files_are_404(self):
        root, _ = self.make_root()
        d = self.daemon(www_root=root)
        for path in ("/../secret.txt", "/sub/../../secret.txt",
                     "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
                     "/sub/%2e%2e/%2e%2e/secret.txt", "/.%2e/secret.txt",
                     "/..%2fsecret.txt", "/..%2Fsecret.txt",
                     "/sub%2findex.html", "/sub%5c..%5c..%5csecret.txt",
                     "/..\\secret.txt", "/index.html%00", "/index.html%00.js",
                     "/%00", "/.hidden", "/%2ehidden", "/sub/./index.html",
                     "/link.txt", "/nonexistent.html", "/sub", "/%zz",
                     "/index.html%", "/%0a", "//etc/passwd"):
            resp = self.get(d, path)
            self.assertEqual(resp.status, 404, "%s: %r" % (path, resp))
            self.assertNotIn(b"secret", resp.body, path)
            self.assertNotIn(b"hidden", resp.body, path)
            self.assert_security_headers(resp, d, path)

    def test_ws_and_healthz_keep_their_meaning(self):
        root, _ = self.make_root()
        d = self.daemon(www_root=root)
        resp = self.get(d, "/healthz")
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertIn(b'"status":"ok"', resp.body)
        resp = self.get(d, "/ws")	# not an upgrade
        self.assertEqual(resp.status, 426, repr(resp))

    def test_default_root_is_the_source_tree(self):
        """Run from the build tree, wschatd serves the source tree's www/."""
        d = self.daemon()
        srcdir = os.environ.get("WSCHAT_SRCDIR")
        if not srcdir:
            self.skipTest("WSCHAT_SRCDIR is not set")
        with open(os.path.join(srcdir, "www", "index.html"), "rb") as f:
            index = f.read()
        resp = self.get(d, "/")
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertEqual(resp.body, index)
        resp = self.get(d, "/wschat.js")
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertEqual(resp.header("Content-Type"),
                         "text/javascript; charset=utf-8")

    def test_missing_root_answers_404(self):
        d = self.daemon(www_root="/nonexistent/wschat-www")
        d.wait_log(r"www_root /nonexistent/wschat-www: .*not served")
        resp = self.get(d, "/")
        self.assertEqual(resp.status, 404, repr(resp))
        self.assertEqual(self.get(d, "/healthz").status, 200)


if __name__ == "__main__":
    harness.main()
