#!/usr/bin/env python3
"""The web console in a real headless Chromium, driven through chromedriver's
WebDriver HTTP API (standard library only).

Run by test_web (test_browser) against a real broker with real agents:

    console_browser.py URL VIEWER_PW ADMIN_PW DOC_ID WAITING_AGENCY SUSPEND_AGENCY OUT_DIR

Logs in as viewer1: sees WAITING_AGENCY's waiting document, opens the
document page, is refused an action (a POST with its own valid CSRF token:
admin.c refuses it, not the page). Logs in as admin1: suspends
SUSPEND_AGENCY and sees it no longer connected. Every page loads nothing
from anywhere but the console. Screenshots go to OUT_DIR; their paths are
printed. Exit status 0 when everything held, 1 with the reason otherwise.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

WAIT_S = 60  # a condition that must come true; never a timing assertion
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def fail(text):
    print("console_browser: FAIL: " + text, flush=True)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Driver:
    """One chromedriver and one browser session."""

    def __init__(self, profile):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [shutil.which("chromedriver") or "/usr/bin/chromedriver", "--port=%d" % self.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + WAIT_S
        while True:
            try:
                self.call("GET", "/status")
                break
            except (OSError, urllib.error.URLError):
                if time.time() > deadline:
                    fail("chromedriver did not start")
                time.sleep(0.2)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1366,900", "--user-data-dir=" + profile, "--no-first-run",
                "--disable-background-networking", "--disable-sync", "--lang=vi"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": shutil.which("chromium") or "/usr/bin/chromium",
                                   "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s: %s" % (method, path, e.read()[:500]))

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.session, path), body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def type(self, css, text):
        self.s("POST", "/element/%s/value" % self.find(css), {"text": text})

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.find(css), {})

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def source(self):
        return self.s("GET", "/source")

    def shot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))
        print("console_browser: screenshot %s" % path, flush=True)

    def quit(self):
        try:
            self.call("DELETE", "/session/%s" % self.session)
        finally:
            self.proc.terminate()
            self.proc.wait(30)


def wait_page(d, url, check, what):
    """Load url again until check(page source) holds."""
    deadline = time.time() + WAIT_S
    while True:
        d.go(url)
        src = d.source()
        if check(src):
            return src
        if time.time() > deadline:
            fail("%s: not seen at %s within %ds; page:\n%s" % (what, url, WAIT_S, src[-3000:]))
        time.sleep(0.5)


def only_local(d, origin, page):
    """Nothing the page loaded came from anywhere but the console."""
    names = d.js("return performance.getEntriesByType('resource').map(e => e.name)")
    for name in names:
        if not name.startswith(origin):
            fail("%s loaded an external resource: %s" % (page, name))
    src = d.source()
    for bad in ("src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url("):
        if bad in src:
            fail("%s refers to an external resource (%s)" % (page, bad))


def login(d, url, name, password):
    d.go(url + "login")
    d.type("#name", name)
    d.type("#password", password)
    d.click("#login")
    deadline = time.time() + WAIT_S
    while name + " (" not in d.source():
        if time.time() > deadline:
            fail("login as %s did not reach the overview: %s" % (name, d.source()[-2000:]))
        time.sleep(0.2)


def main():
    if len(sys.argv) != 8:
        fail("usage: console_browser.py URL VIEWER_PW ADMIN_PW DOC_ID WAITING SUSPEND OUT_DIR")
    url, viewer_pw, admin_pw, doc_id, waiting, suspend, out = sys.argv[1:]
    origin = url.rstrip("/")
    os.makedirs(out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="truc-web-chromium-")
    d = Driver(profile)
    try:
        # A viewer: the overview, the agencies with the waiting document.
        login(d, url, "viewer1", viewer_pw)
        only_local(d, origin, "overview")
        if "Tổng quan / Overview" not in d.source():
            fail("the overview has no bilingual title")
        wait_page(d, url + "agencies",
                  lambda s: 'id="agency-%s"' % waiting in s and
                  s.split('id="agency-%s"' % waiting)[1].split("</tr>")[0].count("<td>1</td>") >= 1,
                  "%s with one waiting document" % waiting)
        only_local(d, origin, "agencies")
        if "suspend-" in d.source():
            fail("a viewer is offered an action button")
        d.go(url)
        d.shot(os.path.join(out, "overview-viewer.png"))
        # The document page: its recipient waiting, its audit entry.
        d.go(url + "doc?id=" + doc_id)
        src = d.source()
        if waiting not in src or "waiting" not in src or "accepted" not in src:
            fail("the document page lacks its recipient's state or audit: " + src[-3000:])
        if "<script>alert" in src:
            fail("the document's subject reached the page unescaped")
        only_local(d, origin, "document page")
        d.shot(os.path.join(out, "document.png"))
        # The viewer tries to act anyway: a form of its own making, with the
        # session's valid CSRF token. The page offered no button; the broker
        # (admin.c) refuses it.
        d.go(url + "agencies")
        d.js("const f = document.createElement('form');"
             "f.method = 'post'; f.action = '/action';"
             "for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value],"
             "    ['verb', 'suspend'], ['agency', arguments[0]]]) {"
             "  const i = document.createElement('input');"
             "  i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }"
             "document.body.appendChild(f); f.submit();", suspend)
        deadline = time.time() + WAIT_S
        while 'id="notice"' not in d.source():
            if time.time() > deadline:
                fail("no answer to the viewer's action: " + d.source()[-2000:])
            time.sleep(0.2)
        src = d.source()
        if "viewer1 is a viewer" not in src or "refused" not in src:
            fail("a viewer's suspend was not refused: " + src[-2000:])
        d.shot(os.path.join(out, "viewer-refused.png"))
        # Log out through the page's own form.
        d.js("document.querySelector('form[action=\"/logout\"]').submit()")
        deadline = time.time() + WAIT_S
        while "Đăng nhập / Log in" not in d.source():
            if time.time() > deadline:
                fail("the logout did not reach the login page")
            time.sleep(0.2)
        d.go(url)
        if "Đăng nhập / Log in" not in d.source():
            fail("after logout the overview is still shown")

        # An admin suspends an agency and sees it cut off.
        login(d, url, "admin1", admin_pw)
        d.go(url + "agencies")
        if "suspend-" + suspend not in d.source():
            fail("the admin has no suspend button for " + suspend)
        d.js("document.getElementById('suspend-' + arguments[0]).form.submit()", suspend)
        deadline = time.time() + WAIT_S
        while 'id="notice"' not in d.source():
            if time.time() > deadline:
                fail("no notice after the suspend: " + d.source()[-2000:])
            time.sleep(0.2)
        if "xong / done" not in d.source():
            fail("the suspend failed: " + d.source()[-2000:])
        row = 'id="agency-%s"' % suspend
        wait_page(d, url + "agencies",
                  lambda s: row in s and "<td>suspended</td><td>không / no</td>"
                  in s.split(row)[1].split("</tr>")[0],
                  "%s suspended and not connected" % suspend)
        only_local(d, origin, "agencies (admin)")
        d.shot(os.path.join(out, "agencies-admin-suspended.png"))
        d.go(url + "stuck?older=0")
        if doc_id not in d.source():
            fail("the stuck page does not list " + doc_id)
        d.go(url + "audit?event=admin")
        if "by admin1 (admin, console)" not in d.source():
            fail("the audit page does not show the admin's suspend")
        d.shot(os.path.join(out, "audit.png"))
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print("console_browser: ok", flush=True)


if __name__ == "__main__":
    main()
