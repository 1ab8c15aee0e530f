#!/usr/bin/env python3
"""The web console's rules over plain HTTP, without a browser.

Run by test_web (test_http) against a real broker:

    console_http.py URL VIEWER_PW ADMIN_PW DOC_ID AGENCY ACCOUNTS_FILE LOCKOUT_FAILURES [LINK]

Checks: every page but the login asks for a session; the session cookie is
HttpOnly and SameSite=Strict and not Secure on plain loopback; security
headers forbid external resources; a wrong password is refused; a POST
without the CSRF token, or with another one, is refused even for an admin;
a viewer's action with its own token is refused by the broker; the stuck
page offers an admin (not a viewer) a resend per waiting recipient, which
the broker does and a viewer's is refused; every value
is escaped (the document's subject holds markup); logout ends the session;
an accounts file readable by others is refused; after LOCKOUT_FAILURES
failures the account and the address are locked out, even for the right
password. With LINK, a broker label: the overview lists that link with a
document waiting for it. Exit status 0 when everything held, 1 with the
reason.
"""
import http.client
import os
import sys
import urllib.parse


def fail(text):
    print("console_http: FAIL: " + text, flush=True)
    sys.exit(1)


class Client:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.cookie = None

    def request(self, method, path, form=None, cookie=True):
        c = http.client.HTTPConnection(self.host, self.port, timeout=120)
        headers = {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie and self.cookie:
            headers["Cookie"] = self.cookie
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        result = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), text)
        c.close()
        return result

    def login(self, name, password):
        status, headers, text = self.request("POST", "/login",
                                             {"name": name, "password": password}, cookie=False)
        if status == 303:
            self.cookie = headers["set-cookie"].split(";")[0]
        return status, headers, text


def csrf_of(text):
    marker = 'name="csrf" value="'
    if marker not in text:
        fail("no CSRF token on the page")
    return text.split(marker)[1].split('"')[0]


def main():
    if len(sys.argv) not in (8, 9):
        fail("usage: console_http.py URL VIEWER_PW ADMIN_PW DOC_ID AGENCY ACCOUNTS FAILURES [LINK]")
    url, viewer_pw, admin_pw, doc_id, agency, accounts, failures = sys.argv[1:8]
    link = sys.argv[8] if len(sys.argv) == 9 else None
    failures = int(failures)
    anon = Client(url)

    # No session: pages redirect to the login, actions are refused.
    for path in ("/", "/agencies", "/doc?id=" + doc_id, "/audit", "/stuck"):
        status, headers, _ = anon.request("GET", path)
        if status != 303 or headers.get("location") != "/login":
            fail("GET %s without a session: %d %s" % (path, status, headers.get("location")))
    status, _, _ = anon.request("POST", "/action", {"verb": "suspend", "agency": agency})
    if status != 403:
        fail("POST /action without a session: %d" % status)

    # A wrong password.
    status, _, text = anon.login("admin1", "not-the-password")
    if status != 401 or "Login refused" not in text:
        fail("a wrong password: %d" % status)
    # A name that is no name: refused, and audited as "(not a name)".
    status, _, _ = anon.login('x"\nlevel=error <b>', "whatever-1")
    if status != 401:
        fail("a login with a hostile name: %d" % status)

    # The admin's session cookie and the headers of a page.
    admin = Client(url)
    status, headers, _ = admin.login("admin1", admin_pw)
    if status != 303:
        fail("admin1 could not log in: %d" % status)
    cookie = headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        if flag not in cookie:
            fail("the session cookie lacks %s: %s" % (flag, cookie))
    if "Secure" in cookie:
        fail("a plain loopback console set a Secure cookie: " + cookie)
    token = admin.cookie.split("=", 1)[1]
    if len(token) != 64:
        fail("the session token is not 32 random bytes in hex: " + token)
    status, headers, page = admin.request("GET", "/agencies")
    if status != 200:
        fail("GET /agencies as admin: %d" % status)
    csp = headers.get("content-security-policy", "")
    if "default-src 'none'" not in csp or headers.get("x-frame-options") != "DENY":
        fail("missing security headers: %s" % headers)
    csrf = csrf_of(page)

    # Audit search: the broker filters (audit show's agency=, event=,
    # since=, until=); the refused logins above are `denied` entries.
    status, _, text = admin.request("GET", "/audit?event=denied&since=1h")
    if status != 200 or "<td>denied</td>" not in text or "<td>connected</td>" in text:
        fail("GET /audit?event=denied: %d %s" % (status, text[-1500:]))
    status, _, text = admin.request("GET", "/audit?since=yesterday")
    if status != 200 or "30m, 12h, 7d" not in text:
        fail("GET /audit?since=yesterday did not say which times it takes: %d" % status)

    # CSRF: none, or someone else's, is refused even for an admin.
    status, _, text = admin.request("POST", "/action", {"verb": "suspend", "agency": agency})
    if status != 403 or "CSRF" not in text:
        fail("a POST without a CSRF token: %d %s" % (status, text))
    status, _, text = admin.request("POST", "/action",
                                    {"csrf": "0" * 64, "verb": "suspend", "agency": agency})
    if status != 403 or "CSRF" not in text:
        fail("a POST with a wrong CSRF token: %d %s" % (status, text))
    status, _, text = admin.request("POST", "/logout", {})
    if status != 403:
        fail("a logout without a CSRF token: %d" % status)

    # A viewer with its own valid token: refused by the broker, not the page.
    viewer = Client(url)
    if viewer.login("viewer1", viewer_pw)[0] != 303:
        fail("viewer1 could not log in")
    overview = viewer.request("GET", "/")[2]
    vcsrf = csrf_of(overview)

    # The links to other brokers, for a viewer too: the link's row with its
    # one waiting document.
    if link:
        at = overview.find("Links to other brokers")
        if at < 0 or ("<td>%s</td>" % link) not in overview[at:]:
            fail("the overview does not list the link to " + link)
        row = overview[overview.find("<td>%s</td>" % link, at):]
        row = row[:row.find("</tr>")]
        if "<td>1</td>" not in row:
            fail("the link's row does not show 1 document waiting: " + row)

    # Resend from the stuck page: the admin has a button per waiting
    # recipient, the viewer none (and the broker refuses the viewer's form).
    status, _, text = admin.request("GET", "/stuck?older=0")
    button = 'id="resend-%s-' % doc_id
    if status != 200 or button not in text:
        fail("the admin's stuck page has no resend button for %s: %d %s"
             % (doc_id, status, text[-1500:]))
    recipient = text.split(button)[1].split('"')[0]
    status, _, text = viewer.request("GET", "/stuck?older=0")
    if status != 200 or doc_id not in text or "resend-" in text:
        fail("the viewer's stuck page: %d, a resend button shown or %s missing" % (status, doc_id))
    status, _, text = viewer.request("POST", "/action", {"csrf": vcsrf, "verb": "resend",
                                                         "id": doc_id, "agency": recipient})
    if status != 403 or "viewer1 is a viewer" not in text:
        fail("a viewer's resend: %d %s" % (status, text[-800:]))
    status, _, text = admin.request("POST", "/action", {"csrf": csrf, "verb": "resend",
                                                        "id": doc_id, "agency": recipient})
    if status != 200 or "xong / done" not in text:
        fail("the admin's resend to %s: %d %s" % (recipient, status, text[-1500:]))
    status, _, text = admin.request("POST", "/action", {"csrf": csrf, "verb": "resend",
                                                        "id": doc_id, "agency": agency})
    if status != 400 or "is not a recipient" not in text:
        fail("a resend to %s, not a recipient: %d %s" % (agency, status, text[-800:]))
    status, _, text = viewer.request("POST", "/action",
                                     {"csrf": vcsrf, "verb": "suspend", "agency": agency})
    if status != 403 or "viewer1 is a viewer" not in text:
        fail("a viewer's action: %d %s" % (status, text[-800:]))
    if viewer.cookie == admin.cookie or vcsrf == csrf:
        fail("two sessions share a token")

    # Escaping: the document's subject holds markup.
    status, _, text = viewer.request("GET", "/doc?id=" + urllib.parse.quote(doc_id))
    if status != 200 or "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" not in text:
        fail("the subject is not shown escaped: %d %s" % (status, text[-1500:]))
    if "<script>alert" in text:
        fail("the subject reached the page as markup")
    status, _, text = viewer.request("GET", "/doc?id=%3Cb%3Eid%3C%2Fb%3E")
    if "<b>id</b>" in text or "&lt;b&gt;id&lt;/b&gt;" not in text:
        fail("a hostile id is not escaped on its page")

    # A form larger than the console reads is refused, the session intact.
    status, _, _ = viewer.request("POST", "/action", {"csrf": vcsrf, "x": "y" * 20000})
    if status != 413:
        fail("a 20 kB form: %d" % status)
    status, _, _ = viewer.request("PUT", "/")
    if status != 405:
        fail("PUT: %d" % status)
    if viewer.request("GET", "/agencies")[0] != 200:
        fail("the session ended after a refused form")

    # Logout ends the session for good.
    status, _, _ = viewer.request("POST", "/logout", {"csrf": vcsrf})
    if status != 303:
        fail("logout: %d" % status)
    status, headers, _ = viewer.request("GET", "/")
    if status != 303:
        fail("the session still works after logout: %d" % status)

    # An accounts file others may read is refused.
    os.chmod(accounts, 0o644)
    status, _, text = Client(url).login("viewer1", viewer_pw)
    os.chmod(accounts, 0o600)
    if status != 500 or "group or others" not in text:
        fail("a world-readable accounts file was used: %d %s" % (status, text[-500:]))

    # Lock-out: after `failures` failures, even the right password fails.
    for i in range(failures):
        status, _, _ = Client(url).login("viewer1", "wrong-%d" % i)
        if status != 401:
            fail("failure %d: %d" % (i + 1, status))
    status, _, text = Client(url).login("viewer1", viewer_pw)
    if status != 429 or "locked out" not in text:
        fail("the right password after %d failures: %d" % (failures, status))
    # The address is locked too: another account from here is refused.
    status, _, _ = Client(url).login("admin1", admin_pw)
    if status != 429:
        fail("another account from the locked-out address: %d" % status)
    # A session opened before the lock-out goes on.
    if admin.request("GET", "/")[0] != 200:
        fail("the admin's open session ended with the lock-out")
    print("console_http: ok", flush=True)


if __name__ == "__main__":
    main()
