#!/usr/bin/python3
"""A document-management system (DMS) talking to truc-agent: the calls a
vendor needs, in the order a real integration makes them (agent/API.md).

Two DMSs, one per agency: the sender's submits a document with its own
reference (client_ref) and repeats the request as it would after a crash;
the recipient's follows the agent's stored events, pages through its inbox,
fetches the document (files written into a folder), takes it (ack) and
answers with a status notice, which the sender then reads.

Needs only Debian's python3-zmq and python3-msgpack. Run against two real
agents (tests/agent/test_dms.c does, as ctest agent_dms_python_example):

    dms_example.py --sender ipc:///run/truc-agent-a/api.sock \\
                   --recipient ipc:///run/truc-agent-b/api.sock \\
                   --to 000.00.02.H01 --dir /var/lib/truc-agent/exchange/in

Exit status 0 when every step did what API.md says, 1 otherwise.
"""
import argparse
import hashlib
import os
import sys
import time

import msgpack
import zmq

TIMEOUT_MS = 30000  # one request's answer; the agent answers at once


class AgentError(Exception):
    """An {"ok": false} reply: code, error name, field and message."""

    def __init__(self, reply):
        super().__init__("%s (%s) at %r: %s" % (reply.get("error"), reply.get("code"),
                                                reply.get("field"), reply.get("message")))
        self.reply = reply


class Agent:
    """One REQ socket to an agent's API: one msgpack map out, one back."""

    def __init__(self, ctx, endpoint):
        self.ctx, self.endpoint = ctx, endpoint
        self._connect()

    def _connect(self):
        self.sock = self.ctx.socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS + 60000)  # long-polls wait up to 60 s
        self.sock.connect(self.endpoint)

    def call(self, **request):
        self.sock.send(msgpack.packb(request, use_bin_type=True))
        try:
            reply = msgpack.unpackb(self.sock.recv(), raw=False)
        except zmq.Again:
            # A REQ socket that missed its answer is stuck: start a new one.
            self.sock.close()
            self._connect()
            raise
        if not reply.get("ok"):
            raise AgentError(reply)
        return reply

    def events(self, after, wait_ms=30000):
        """Stored events after seq `after` (long-poll): the durable way to
        follow the agent, which never misses one while the DMS was down."""
        reply = self.call(cmd="events", after=after, limit=100, wait=wait_ms)
        return reply["events"], (reply["next"] or after)

    def wait_event(self, after, match, what, deadline_s=120):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            events, after = self.events(after)
            for event in events:
                if match(event):
                    return event, after
        raise SystemExit("no %s event within %d s" % (what, deadline_s))


def catch_up(agent):
    """The seq of the last stored event, read page by page."""
    after = 0
    while True:
        events, after = agent.events(after, wait_ms=0)
        if not events:
            return after


def step(text):
    print("--", text, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sender", required=True, help="API endpoint of the sending agency's agent")
    ap.add_argument("--recipient", required=True, help="API endpoint of the recipient's agent")
    ap.add_argument("--to", required=True, help="the recipient agency's code")
    ap.add_argument("--dir", required=True, help="folder (in api.allowed_dirs) for fetched files")
    args = ap.parse_args()
    ctx = zmq.Context()
    sender, recipient = Agent(ctx, args.sender), Agent(ctx, args.recipient)

    step("health: the agent, its connection and the limits in force")
    health = sender.call(cmd="health")
    limits = health["limits"]
    print("   agency %s, connected %s, one attachment at most %s bytes"
          % (health["agency"], health["connected"], limits["broker_frame"]))

    # Where both agents' events stand now: only what comes after matters.
    # A real DMS keeps the last seq it handled and starts from there.
    r_after, s_after = catch_up(recipient), catch_up(sender)

    step("submit with client_ref (the DMS's own register number)")
    pdf = b"%PDF-1.4\n% the signed document\n" + os.urandom(2048)
    request = dict(cmd="submit", client_ref="CV-%d" % os.getpid(),
                   doc={"to": [args.to], "type": "Công văn", "subject": "Về việc thử tích hợp DMS",
                        "number": "15", "notation": "UBND-VP", "urgency": "khẩn",
                        "ext": {"edxml.type": "1"}},
                   attachments=[{"name": "cong-van.pdf", "type": "application/pdf", "data": pdf}])
    first = sender.call(**request)
    doc_id = first["id"]
    print("   id", doc_id, "state", first["state"])

    step("the same request again (as after a crash before the reply): same id, nothing new")
    again = sender.call(**request)
    assert again["id"] == doc_id and again.get("repeat") is True, again
    changed = dict(request, doc=dict(request["doc"], subject="Một văn bản khác"))
    try:
        sender.call(**changed)
        raise SystemExit("a different request with the same client_ref was accepted")
    except AgentError as e:
        assert e.reply["error"] == "ERR_DUPLICATE_ID", e.reply

    step("recipient: follow the stored events until the document arrives")
    event, r_after = recipient.wait_event(
        r_after, lambda e: e["topic"] == "inbox.new" and e.get("id") == doc_id, "inbox.new")
    print("   inbox.new from", event["from"], "urgency", event["urgency"])

    step("recipient: page through the unread inbox, two at a time")
    found, after, pages = None, 0, 0
    while True:
        page = recipient.call(cmd="inbox", unread=True, limit=2, after=after)
        pages += 1
        for entry in page["documents"]:
            if entry["id"] == doc_id:
                found = entry
        if page["next"] is None:
            break
        after = page["next"]
    assert found is not None, "the document is not in the inbox"
    print("   found in %d page(s): %s" % (pages, found["subject"]))

    step("recipient: fetch, files written into --dir")
    fetched = recipient.call(cmd="fetch", id=doc_id, dir=args.dir)
    att = fetched["attachments"][0]
    with open(att["path"], "rb") as f:
        data = f.read()
    assert data == pdf and att["hash"] == hashlib.blake2b(pdf, digest_size=32).hexdigest(), att
    assert fetched["document"]["ext"]["edxml.type"] == "1"
    assert fetched["document"]["urgency"] == 1
    print("   %s, %d bytes, hash verified" % (att["path"], len(data)))

    step("recipient: ack (taken into the register) and a status notice 03 accepted")
    recipient.call(cmd="ack", id=doc_id)
    notice = recipient.call(cmd="status", id=doc_id, code=3, note="Đã vào sổ",
                            staff={"name": "Trần Thị B", "department": "Văn thư"},
                            client_ref="ST-%d" % os.getpid())
    assert notice["state"] == "queued", notice
    unread = recipient.call(cmd="inbox", unread=True, limit=1000)["documents"]
    assert all(d["id"] != doc_id for d in unread), "acked but still unread"

    step("sender: the notice arrives as a sent.status event and in sent")
    event, s_after = sender.wait_event(
        s_after, lambda e: e["topic"] == "sent.status" and e.get("doc") == doc_id, "sent.status")
    sent = sender.call(cmd="sent", id=doc_id)["document"]
    notices = [n for n in sent["notices"] if n["code"] == 3]
    assert notices and notices[0]["staff_department"] == "Văn thư", sent["notices"]
    print("   %s: %s (%s), document %s" % (event["agency"], notices[0]["note"],
                                          notices[0]["staff"], sent["state"]))
    print("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AgentError, AssertionError, zmq.ZMQError) as e:
        print("FAILED:", repr(e), file=sys.stderr)
        sys.exit(1)
