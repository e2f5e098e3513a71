"""`make fuzz`: at least 100,000 hostile requests against /wechat, in process, through Flask's test client.

    .venv/bin/python bench/fuzz.py [--cases 100000] [--seed N] [--slow 2.0] [--hang 30]

A seeded random and mutation fuzzer (hypothesis would spend most of its time generating and
shrinking at this volume; a failure here prints the seed and the case number, which replay it).
The app runs on the zero-configuration default (SQLite in a temp dir + the embedded Redis), in
WECHAT_MESSAGE_MODE=any so that both plaintext and safe-mode (AES) pushes reach the parser.

Every case is one request. Kinds (weights in KINDS):
  valid        a well-formed push (text, event, image, location, voice, link; plaintext or encrypted,
               compat mode too) with a fresh MsgId and a hostile text (CDATA breakers, control
               characters, RTL marks, emoji, 4,000-character texts, markup, format strings)
  mutate_body  a valid push, then its body mutated byte-wise (flips, inserts, deletes, duplicated
               and swapped chunks, truncation); the signature stays (plaintext pushes are signed on
               the query only, so many of these reach the parser)
  resign       an encrypted push whose ciphertext is mutated (or replaced by random base64) and
               signed again with a correct msg_signature: the decryption and padding checks
  inner        a correctly encrypted and signed push whose *plaintext* is hostile: DTDs, billion
               laughs, external entities, CDATA tricks, wrong root, missing and duplicated fields,
               huge and negative MsgIds and CreateTimes, nested elements, non-XML
  query        a valid body with a mutated query: missing/duplicated/garbage signature, timestamp
               (old, future, non-ASCII digits, huge), nonce (empty, 10 KB), encrypt_type, msg_signature,
               broken percent-encoding
  random       random bytes or random text in utf-8/utf-16/gb18030/latin-1 (BOMs too), signed
  xml_attack   billion laughs / XXE / DTD / processing instructions in the outer body, signed
  huge         bodies around and beyond 1 MiB (the limit): 1 MiB - 1 byte, 1 MiB + 1, 2 MiB, a 1 MiB
               Content without a closing tag (rare: they are slow to make and to hash)
  verify       GET /wechat verification with random and valid echostr/signatures
  method       PUT/DELETE/PATCH/OPTIONS/HEAD on /wechat, and random content types

Checks: zero 5xx, zero requests over --slow seconds (a hang; a watchdog aborts the run and prints
the case if one request takes --hang seconds), no HTML page (a non-empty body served as text/html; Flask's
automatic OPTIONS answer is an empty 200, and an echostr or a reply that quotes "<!DOCTYPE html>" from
what was sent is text/plain or XML), no 200 for a request whose `signature`
is not valid, and no unexpected exception in the app's log ("push failed; answered success" or a
lost spool write). Prints cases/s and the status histogram per kind. Exit 1 on any violation.
"""
from __future__ import annotations

import argparse
import base64
import collections
import logging
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
from urllib.parse import quote, urlencode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TOKEN = "fuzztoken"
APP_ID = "wx1234567890abcdef"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
ACCOUNT = "gh_fuzz"
MIB = 1024 * 1024

NASTY = [
    "]]>", "<![CDATA[", "]]]]><![CDATA[>", "<!DOCTYPE html>", "<!ENTITY x 'y'>", "&amp;", "&lt;", "&#x1d;",
    "&#0;", "<xml>", "</xml>", "</Content>", "<Content>", "\x00", "\x1d", "\x0b", "\x7f", "\r\n", "\r", "\t",
    "\u2028", "\u0085", "\u00a0", "\u3000", "\ufeff", "\ufffe", "\uffff", "\U0001f600", "\u200b", "\u202e",
    "'", '"', "<", ">", "&", "success", "%s", "%n", "{0}", "${x}", "{{7*7}}", "\\", "\ud800", "路灯坏了",
    "投诉", "着火了", "救命", "报警", "qrscene_", "İ", "'; DROP TABLE messages; --", "<script>alert(1)</script>",
    "1", "状态 2024000001", "评价 1", "12345", "人工", "退订", "\u0000\u0000", "Ａ" * 3,
]
TEXTS = ["你好", "小区门口路灯坏了三个月没人修", "社保断缴了怎么补缴", "谢谢", "楼下着火了", "查询 2024000001", ""]
EVENTS = ["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN", "LOCATION", "TEMPLATESENDJOBFINISH", "weird", ""]
ENCODINGS = ["utf-8", "utf-16", "utf-16-le", "gb18030", "latin-1", "utf-8-sig", "big5", "shift_jis"]
CONTENT_TYPES = ["text/xml", "application/xml", "text/plain", "application/json", "", "text/xml; charset=gbk",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
        + ']><xml><ToUserName>a</ToUserName><Content>&lol9;</Content></xml>')
XXE = ('<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>'
       '<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>')
PARAM_ENTITY = ('<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
                '<xml><Content>x</Content></xml>')
ATTACKS = [BOMB, XXE, PARAM_ENTITY, "<?xml-stylesheet href='x'?><xml/>", "<!DOCTYPE xml><xml></xml>",
           "<xml>" * 5000, "<xml><a>" + "<b>" * 20000 + "</xml>", "<?xml version='1.0' encoding='utf-16'?><xml/>",
           '<xml xmlns:x="urn:x"><x:Content>1</x:Content></xml>', "<xml><![CDATA[<xml>]]></xml>",
           "<xml>&#x110000;</xml>", "<xml>&unknown;</xml>", "<xml>" + "&amp;" * 50000 + "</xml>"]


class Fuzzer:
    def __init__(self, seed: int) -> None:
        from bot.simulator import Simulator
        from bot.wechat.crypto import signature

        self.rng = random.Random(seed)
        self.sim = Simulator(TOKEN, APP_ID, AES_KEY, account=ACCOUNT)
        self.signature = signature
        self.msg_id = (time.time_ns() // 1000) % 10**15 * 100
        self.nonce = 0

    # -- building blocks ---------------------------------------------------------------------------

    def fresh_nonce(self) -> str:
        self.nonce += 1
        return f"{self.rng.randrange(10**6)}{self.nonce}"

    def text(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return self.rng.choice(TEXTS)
        if r < 0.8:
            return "".join(self.rng.choice(NASTY + TEXTS) for _ in range(self.rng.randrange(1, 12)))
        if r < 0.9:
            return "".join(chr(self.rng.randrange(1, 0x30000)) for _ in range(self.rng.randrange(1, 60)))
        return self.rng.choice(TEXTS + NASTY) * self.rng.randrange(100, 2000)

    def openid(self) -> str:
        if self.rng.random() < 0.9:
            return "oFuzz" + "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(23))
        return self.rng.choice(["", "o", "x" * 300, "o\u202e中文", "o<>&", "o" + "\x00" * 3])

    def message_xml(self) -> str:
        self.msg_id += 1
        openid = self.openid()
        r = self.rng.random()
        from xml.sax.saxutils import escape

        if r < 0.6:
            return self.sim.text_xml(self.text(), openid, msg_id=self.msg_id)
        if r < 0.8:
            return self.sim.event_xml(self.rng.choice(EVENTS), openid, event_key=self.text()[:300])
        kind = self.rng.choice(["image", "voice", "video", "location", "link", "shortvideo", "file", "unknown"])
        extra = {
            "image": f"<PicUrl>{escape(self.text())}</PicUrl><MediaId>m1</MediaId>",
            "voice": f"<MediaId>m</MediaId><Format>amr</Format><Recognition>{escape(self.text())}</Recognition>",
            "location": f"<Location_X>{self.rng.uniform(-999, 999)}</Location_X><Location_Y>abc</Location_Y>"
                        f"<Scale>{self.rng.randrange(-5, 30)}</Scale><Label>{escape(self.text())}</Label>",
            "link": f"<Title>{escape(self.text())}</Title><Description/><Url>javascript:alert(1)</Url>",
        }.get(kind, "")
        return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
                f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
                f"{extra}<MsgId>{self.msg_id}</MsgId></xml>")

    def signed(self, xml: str, encrypt: bool | None = None) -> tuple[dict[str, str], bytes, bool]:
        enc = self.rng.random() < 0.5 if encrypt is None else encrypt
        lone = any(0xD800 <= ord(c) <= 0xDFFF for c in xml)  # lone surrogates: not encodable as UTF-8
        if lone and enc:
            xml, lone = "".join(c for c in xml if not 0xD800 <= ord(c) <= 0xDFFF), False
        req = self.sim.sign("" if lone else xml, encrypt=enc, nonce=self.fresh_nonce(),
                            compat=enc and self.rng.random() < 0.1)
        # plaintext with a lone surrogate: sent as the (invalid UTF-8) bytes a careless encoder makes
        return dict(req.query), xml.encode("utf-8", "surrogatepass") if lone else req.body, enc

    def mutate(self, data: bytes) -> bytes:
        b = bytearray(data)
        for _ in range(self.rng.choice([1, 1, 1, 2, 3, 8, 30])):
            op = self.rng.randrange(7)
            if not b:
                b += bytes([self.rng.randrange(256)])
                continue
            i = self.rng.randrange(len(b))
            if op == 0:
                b[i] ^= 1 << self.rng.randrange(8)
            elif op == 1:
                b[i] = self.rng.randrange(256)
            elif op == 2:
                b.insert(i, self.rng.choice([0, 0x3C, 0x3E, 0x26, 0x5D, 0xFF, 0xC0, 0x0A, self.rng.randrange(256)]))
            elif op == 3:
                del b[i:i + self.rng.randrange(1, 16)]
            elif op == 4:
                j = self.rng.randrange(len(b))
                b[i:i] = b[j:j + self.rng.randrange(1, 64)]
            elif op == 5:
                del b[self.rng.randrange(len(b) + 1):]  # truncate
            else:
                frag = self.rng.choice(["]]>", "<![CDATA[", "<!DOCTYPE x>", "&", "</xml>", "<Encrypt>", "\x00"])
                b[i:i] = frag.encode()
        return bytes(b)

    # -- the kinds ---------------------------------------------------------------------------------

    def valid(self):
        q, body, _ = self.signed(self.message_xml())
        return "POST", q, body, "text/xml", True

    def mutate_body(self):
        q, body, _ = self.signed(self.message_xml())
        return "POST", q, self.mutate(body), "text/xml", True

    def resign(self):
        xml = self.message_xml()
        q, body, _ = self.signed(xml, encrypt=True)
        import re

        encrypt = re.search(rb"<Encrypt><!\[CDATA\[([^\]]*)\]\]></Encrypt>", body).group(1).decode()
        r = self.rng.random()
        if r < 0.4:
            raw = bytearray(base64.b64decode(encrypt))
            for _ in range(self.rng.randrange(1, 4)):
                raw[self.rng.randrange(len(raw))] ^= 1 << self.rng.randrange(8)
            encrypt = base64.b64encode(bytes(raw)).decode()
        elif r < 0.6:
            encrypt = base64.b64encode(os.urandom(self.rng.choice([0, 1, 15, 16, 31, 32, 48, 64, 4096]))).decode()
        elif r < 0.8:
            encrypt = encrypt[: self.rng.randrange(len(encrypt))]
        else:
            encrypt = self.rng.choice(["%%%", "====", "a", "中文", encrypt + "AAAA", encrypt.replace("A", "-")])
        q["msg_signature"] = self.signature(TOKEN, q["timestamp"], q["nonce"], encrypt)
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return "POST", q, body.encode("utf-8", "surrogatepass"), "text/xml", True

    def inner(self):
        r = self.rng.random()
        if r < 0.3:
            xml = self.rng.choice(ATTACKS)
        elif r < 0.6:
            xml = self.mutate(self.message_xml().encode("utf-8", "surrogatepass")).decode("utf-8", "replace")
        else:
            self.msg_id += 1
            fields = [f"<ToUserName>{ACCOUNT}</ToUserName>", f"<FromUserName>{self.openid()}</FromUserName>",
                      f"<CreateTime>{self.rng.choice([int(time.time()), -1, 0, 10**30, 'abc', ''])}</CreateTime>",
                      f"<MsgType>{self.rng.choice(['text', 'event', '', 'TEXT', '<a/>'])}</MsgType>",
                      f"<Content><![CDATA[{self.text()}]]></Content>",
                      f"<MsgId>{self.rng.choice([self.msg_id, -1, 0, 2**64 + 1, 'x', ''])}</MsgId>",
                      f"<Event>{self.rng.choice(EVENTS)}</Event>", "<Content><a>b</a></Content>",
                      f"<MsgId>{self.msg_id}</MsgId>"]
            self.rng.shuffle(fields)
            xml = "<xml>" + "".join(fields[: self.rng.randrange(len(fields) + 1)]) + "</xml>"
        q, body, _ = self.signed(xml.replace("\ud800", ""), encrypt=True)
        return "POST", q, body, "text/xml", True

    def query(self):
        q, body, _ = self.signed(self.message_xml())
        signed = True
        for _ in range(self.rng.randrange(1, 4)):
            key = self.rng.choice(["signature", "timestamp", "nonce", "encrypt_type", "msg_signature", "openid",
                                   "extra"])
            r = self.rng.random()
            if r < 0.25:
                q.pop(key, None)
            elif key == "timestamp":
                q[key] = str(self.rng.choice([int(time.time()) - 301, int(time.time()) + 301, 0, -5, 10**20, "１２",
                                              "²", "1e9", " 1", "", int(time.time()) - 299]))
            elif key == "encrypt_type":
                q[key] = self.rng.choice(["AES", "aes ", "raw", "", "none", "des", "aes\x00", "Raw"])
            elif key == "nonce":
                q[key] = self.rng.choice(["", "x" * 10000, "\u202e", "0"])
            else:
                q[key] = self.rng.choice(["", "0" * 40, "z" * 40, q.get(key, "x")[:-1], "a" * 5000, "中文"])
            if key in ("signature", "timestamp", "nonce"):
                signed = False
        raw = urlencode(q)
        if self.rng.random() < 0.2:
            # repeated keys: the first value counts (Werkzeug's args.get), so these keep the signature valid
            raw += self.rng.choice(["&signature=", "&%zz=1", "&&&", "&timestamp=1&timestamp=2", "&a=%E4%B8",
                                    "&" + quote("签名") + "=1"])
        return "POST", raw, body, "text/xml", signed

    def random(self):
        q, _, _ = self.signed("")
        if self.rng.random() < 0.5:
            body = os.urandom(self.rng.choice([0, 1, 2, 10, 100, 1000, 10000, 100000]))
        else:
            text = "".join(self.rng.choice(NASTY + TEXTS + ["<xml>", "</xml>", "<Encrypt>"])
                           for _ in range(self.rng.randrange(0, 50)))
            body = text.encode(self.rng.choice(ENCODINGS), errors="replace")
        return "POST", q, body, self.rng.choice(CONTENT_TYPES), True

    def xml_attack(self):
        xml = self.rng.choice(ATTACKS)
        q, body, _ = self.signed(xml, encrypt=False)
        return "POST", q, body, "text/xml", True

    def huge(self):
        q, _, _ = self.signed("", encrypt=False)
        size = self.rng.choice([MIB - 64, MIB - 1, MIB, MIB + 1, 2 * MIB, 5 * MIB // 4])
        head = (f"<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>oHuge</FromUserName><CreateTime>"
                f"{int(time.time())}</CreateTime><MsgType>text</MsgType><Content>").encode()
        if self.rng.random() < 0.5:
            body = head + b"a" * max(0, size - len(head))  # no closing tags
        else:
            tail = f"</Content><MsgId>{self.msg_id + 1}</MsgId></xml>".encode()
            self.msg_id += 1
            body = head + "路".encode() * max(0, (size - len(head) - len(tail)) // 3) + tail
        return "POST", q, body, "text/xml", True

    def verify(self):
        ts, nonce = str(int(time.time())), self.fresh_nonce()
        q = {"signature": self.signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
             "echostr": self.rng.choice(["hello", "", "x" * 600, "<script>", "中文", self.text()[:100]])}
        signed = True
        if self.rng.random() < 0.5:
            q["signature"] = self.rng.choice(["", "0" * 40, q["signature"][::-1]])
            signed = False
        return "GET", q, b"", "", signed

    def method(self):
        q, body, _ = self.signed(self.message_xml())
        return self.rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]), q, body, "text/xml", True


KINDS = {"valid": 18, "mutate_body": 18, "resign": 10, "inner": 14, "query": 14, "random": 10, "xml_attack": 3,
         "huge": 0.4, "verify": 5, "method": 2}


class Counter(logging.Handler):
    """Counts the log records that mean an unexpected exception reached the edge."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.unexpected: collections.Counter[str] = collections.Counter()
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("push failed") or record.levelno >= logging.CRITICAL or "failed; sending the safe" in msg:
            exc = record.exc_info[1] if record.exc_info else None
            key = f"{msg[:60]} [{type(exc).__name__ if exc else '-'}]"
            self.unexpected[key] += 1
            if len(self.first) < 5 and record.exc_info:
                self.first.append("".join(traceback.format_exception(*record.exc_info))[-1500:])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=int(os.environ.get("FUZZ_CASES", 100_000)))
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--slow", type=float, default=2.0, help="a request slower than this is a hang (s)")
    p.add_argument("--hang", type=float, default=30.0, help="abort the run if one request takes this long (s)")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)

    tmp = tempfile.mkdtemp(prefix="minsheng-fuzz-")
    from bot import create_app
    from bot.bootstrap import initialise
    from bot.extensions import services

    app = create_app({
        "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_ENCODING_AES_KEY": AES_KEY,
        "WECHAT_MESSAGE_MODE": "any", "DATABASE_URL": f"sqlite:///{tmp}/fuzz.db", "REDIS_URL": "",
        "EMBEDDED_REDIS_DB": f"{tmp}/redis.db", "SPOOL_PATH": f"{tmp}/spool.db", "REDIS_NAMESPACE": "fuzz",
        "WECHAT_API_BASE": "http://127.0.0.1:9", "SPOOL_DRAIN_SECONDS": 0, "CHAIN_SEAL_SECONDS": 0,
    })
    counter = Counter()
    logging.getLogger().addHandler(counter)
    logging.getLogger().setLevel(logging.WARNING)
    # The edge logs every refused request at WARNING: keep them out of the console, count errors.
    logging.getLogger("bot").propagate = True
    for h in list(logging.getLogger().handlers):
        if h is not counter:
            logging.getLogger().removeHandler(h)
    with app.app_context():
        initialise(app)
    client = app.test_client()
    fz = Fuzzer(seed)
    kinds, weights = list(KINDS), list(KINDS.values())

    current = {"started": None, "case": None}

    def watchdog() -> None:
        while True:
            time.sleep(1)
            started = current["started"]
            if started is not None and time.monotonic() - started > args.hang:
                print(f"\nHANG: case {current['case']} ran over {args.hang:.0f}s (seed {seed}); stacks:", flush=True)
                import faulthandler

                faulthandler.dump_traceback(all_threads=True)
                os._exit(2)

    threading.Thread(target=watchdog, daemon=True).start()

    hist: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    slow: list[tuple[int, str, float]] = []
    five: list[tuple[int, str, int]] = []
    html: list[tuple[int, str, str, int, str, bytes]] = []
    unsigned_200: list[tuple[int, str, str]] = []
    times: list[float] = []
    kind_time: collections.Counter[str] = collections.Counter()
    harness_errors: list[str] = []
    print(f"fuzzing /wechat: {args.cases:,} cases, seed {seed} (replay: --seed {seed}); app on SQLite + embedded "
          f"Redis in {tmp}", flush=True)
    t0 = time.monotonic()
    try:
        for i in range(args.cases):
            kind = fz.rng.choices(kinds, weights)[0]
            try:
                method, query, body, ctype, signed = getattr(fz, kind)()
                qs = query if isinstance(query, str) else urlencode(query, errors="surrogatepass")
            except Exception as e:  # a bug in this fuzzer, not in the app: say so, go on
                harness_errors.append(f"case {i} ({kind}): {type(e).__name__}: {e}"[:200])
                continue
            current["case"] = (i, kind)
            start = time.monotonic()
            current["started"] = start
            resp = client.open("/wechat", method=method, query_string=qs, data=body,
                               content_type=ctype or None)
            took = time.monotonic() - start
            current["started"] = None
            times.append(took)
            status = resp.status_code
            hist[kind][status] += 1
            if took > args.slow:
                slow.append((i, kind, took))
            if status >= 500:
                five.append((i, kind, status))
            page = resp.get_data()[:2000].lstrip().lower()
            # An HTML page is one served as text/html. A reply (XML) or a verification's echostr (text/plain)
            # that quotes "<!DOCTYPE html>" from what the sender sent is not one.
            if page and resp.mimetype == "text/html":
                html.append((i, kind, method, status, resp.mimetype, page[:60]))
            if status == 200 and not signed and method in ("GET", "POST"):
                unsigned_200.append((i, kind, qs[:300]))
            kind_time[kind] += took
            resp.close()
            if (i + 1) % 10000 == 0:
                el = time.monotonic() - t0
                print(f"  {i + 1:>7,} cases  {el:6.1f}s  {(i + 1) / el:7.1f} cases/s  5xx {len(five)}  "
                      f"slow {len(slow)}  unexpected {sum(counter.unexpected.values())}", flush=True)
    finally:
        elapsed = time.monotonic() - t0
        services(app).close()
        shutil.rmtree(tmp, ignore_errors=True)

    total = sum(sum(c.values()) for c in hist.values())
    statuses = sorted({s for c in hist.values() for s in c})
    print()
    print(f"{total:,} cases in {elapsed:.1f}s = {total / elapsed:,.1f} cases/s (seed {seed}); per request: "
          f"p50 {sorted(times)[len(times) // 2] * 1000:.1f} ms, max {max(times) * 1000:.0f} ms")
    w = 13
    print("kind".ljust(w) + "".join(str(s).rjust(8) for s in statuses) + "total".rjust(9) + "ms/case".rjust(9))
    for kind in kinds:
        c = hist.get(kind, collections.Counter())
        n = sum(c.values())
        print(kind.ljust(w) + "".join(str(c.get(s, 0)).rjust(8) for s in statuses) + str(n).rjust(9)
              + (f"{kind_time[kind] / n * 1000:9.2f}" if n else "-".rjust(9)))
    allc: collections.Counter[int] = collections.Counter()
    for c in hist.values():
        allc.update(c)
    print("all".ljust(w) + "".join(str(allc.get(s, 0)).rjust(8) for s in statuses) + str(total).rjust(9))
    print()
    print(f"5xx: {len(five)}   hangs (> {args.slow:.0f} s): {len(slow)}   HTML pages: {len(html)}   "
          f"200 without a valid signature: {len(unsigned_200)}   unexpected exceptions logged: "
          f"{sum(counter.unexpected.values())}")
    for what, items in (("5xx", five), ("slow", slow), ("html", html), ("unsigned 200", unsigned_200)):
        if items:
            print(f"  first {what}: {items[:5]}")
    if harness_errors:
        print(f"  fuzzer's own errors (cases not sent): {len(harness_errors)}; first: {harness_errors[:3]}")
    for key, n in counter.unexpected.most_common():
        print(f"  unexpected: {n} x {key}")
    for tb in counter.first[:2]:
        print(tb)
    bad = five or slow or html or unsigned_200 or counter.unexpected
    print("fuzz: " + ("FAIL" if bad else "PASS (zero 5xx, zero hangs)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
