"""Pre-generate fresh, unique, correctly signed safe-mode (encrypt_type=aes) WeChat requests.

Each request is one line: "<query string>\t<body>\n", body without newlines or tabs, so the
wrk Lua script (bench/wrk_requests.lua) can load it with io.lines() and a single find().

Every request has its own MsgId and nonce, the current timestamp, and a citizen text drawn
from a realistic mix (~40% complaints, ~30% inquiries, ~30% greetings/other). By default every
request comes from a citizen of its own: the product merges messages that one citizen sends within
seconds of each other and answers a greeting once an hour, and with a fixed pool of senders (2,000
until 2026-11-28) the share of those cheap, silent answers grew with the server's own speed (61% of
replies in a run at 815 msg/s), flattering the faster runs. `--openids N` draws from N citizens instead.

The crypto is done here with `cryptography` directly, following
the protocol (AES-256-CBC, IV = key[:16], PKCS#7 to 32-byte blocks, 16 random bytes + 4-byte
big-endian length + xml + AppID), not with wechatpy, so the server is checked against an
independent client.

    .venv/bin/python bench/make_requests.py -n 50000 -o /tmp/req.tsv --split 2

writes /tmp/req.tsv.0 and /tmp/req.tsv.1 (request i goes to slice i % split). With --split 1
(the default) it writes /tmp/req.tsv itself.
"""
import argparse
import base64
import hashlib
import os
import random
import string
import struct
import sys
import time
from multiprocessing import Pool

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DEFAULT_TOKEN = "minsheng"
DEFAULT_APP_ID = "wx5f3a8c0d2e4b6a17"
DEFAULT_AES_KEY = "M1nSh3ngD3m0AesKey000000000000000000000000A"
DEFAULT_TO_USER = "gh_3c8e1f5a9b2d"  # the account's original id (ToUserName); not checked by the protocol


def wechat_settings(env=None):
    """(token, app_id, encoding_aes_key) from the environment, with the app's defaults."""
    env = os.environ if env is None else env
    token = env.get("WECHAT_TOKEN") or DEFAULT_TOKEN
    app_id = env.get("WECHAT_APP_ID") or DEFAULT_APP_ID
    aes_key = env.get("WECHAT_ENCODING_AES_KEY") or DEFAULT_AES_KEY
    if len(aes_key) != 43:
        raise SystemExit(f"WECHAT_ENCODING_AES_KEY must be 43 characters, got {len(aes_key)}")
    key = base64.b64decode(aes_key + "=")
    if len(key) != 32:
        raise SystemExit("WECHAT_ENCODING_AES_KEY does not decode to 32 bytes")
    return token, app_id, aes_key


# --- citizen texts -------------------------------------------------------------------------

PLACES = [
    "小区门口", "我家楼下", "幸福里小区", "建设路和人民路路口", "菜市场旁边", "学校门口",
    "3号楼", "老年活动中心", "公交站台", "东门停车场", "光明街道", "河滨公园", "锦绣花园二期",
]
PROBLEMS = [
    "路灯坏了", "下水道堵了", "垃圾没人清理", "井盖丢了", "有人占道经营", "晚上广场舞噪音太大",
    "电梯经常停运", "路面塌了个坑", "违章停车堵住消防通道", "自来水发黄", "暖气不热",
    "工地夜里施工吵得睡不着", "共享单车堆成山", "污水直接排到河里", "楼道堆满杂物",
    "流浪狗咬人", "排水沟臭气熏天", "围墙有倒塌的危险",
]
DURATIONS = [
    "三个月没人修", "好几天了", "一直没人管", "打了12345也没解决", "物业不管", "已经两个星期了",
    "反映过多次了", "", "，麻烦尽快处理", "，老人孩子出门很危险", "，希望有关部门重视",
]
COMPLAINTS_FIXED = [
    "小区门口路灯坏了三个月没人修",
    "楼上天天半夜装修，投诉了物业也没用",
    "我们这条街的垃圾桶满了一个星期都没人收",
    "单位拖欠工资半年了，去哪里投诉？",
    "出租车拒载还绕路，车牌号已经拍下来了",
    "隔壁餐馆油烟直排到我家窗户",
]
INQUIRIES = [
    "社保断缴了怎么补缴", "居住证怎么办理", "孩子上学需要准备哪些材料", "医保异地报销怎么弄",
    "公积金怎么提取", "新生儿户口在哪里办", "身份证丢了怎么补办", "退休金什么时候发",
    "灵活就业人员怎么交社保", "老年人乘车卡在哪办", "营业执照网上能办吗", "低保申请需要什么条件",
    "办事大厅周六上班吗", "不动产登记要预约吗", "高龄补贴怎么领", "失业金怎么申领",
    "电动车上牌去哪里", "疫苗接种在哪里预约", "请问办理准生证需要什么材料", "核酸检测点还有吗",
    "公租房怎么申请", "残疾证怎么办理",
]
GREETINGS = [
    "你好", "您好", "在吗", "有人吗", "谢谢", "谢谢你们", "好的", "收到", "人工客服", "？",
    "[微笑]", "早上好", "你好，我想反映个问题", "怎么联系你们", "辛苦了", "1", "嗯嗯", "ok",
    "这个公众号是干什么的", "我要留言",
]


def citizen_text(rng):
    r = rng.random()
    if r < 0.40:
        if rng.random() < 0.25:
            return rng.choice(COMPLAINTS_FIXED)
        tail = rng.choice(DURATIONS)
        if tail and not tail.startswith("，") and rng.random() < 0.5:
            tail = "，" + tail
        return rng.choice(PLACES) + rng.choice(PROBLEMS) + tail
    if r < 0.70:
        q = rng.choice(INQUIRIES)
        return q + rng.choice(["", "", "？", "？谢谢", "，急"])
    return rng.choice(GREETINGS)


OPENID_CHARS = string.ascii_letters + string.digits + "-_"


def new_openid(rng):
    """A citizen no earlier run has seen. Real openids: 28 chars, starting with "o"."""
    return "o" + "".join(rng.choice(OPENID_CHARS) for _ in range(27))


def make_openids(count, rng):
    # A per-run random pool keeps citizens realistic (count distinct users) while not inheriting
    # per-user state from earlier runs.
    return [new_openid(rng) for _ in range(count)]


# --- protocol --------------------------------------------------------------------------------

def sha1_sorted(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class Encryptor:
    def __init__(self, aes_key, app_id):
        self.key = base64.b64decode(aes_key + "=")
        self.app_id = app_id.encode()
        self.cipher = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]), backend=default_backend())

    def encrypt(self, xml):
        data = xml.encode("utf-8")
        plain = os.urandom(16) + struct.pack(">I", len(data)) + data + self.app_id
        pad = 32 - len(plain) % 32
        plain += bytes([pad]) * pad
        enc = self.cipher.encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def _pool_worker_init():
    # Workers only compute: the parent handles Ctrl-C / SIGTERM and terminates the pool
    # (which sends SIGTERM; the default action ends the worker quietly).
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _chunk(args):
    start, count, seed, msgid_base, openids, timestamp, token, app_id, aes_key, to_user = args
    rng = random.Random(seed)
    enc = Encryptor(aes_key, app_id)
    lines = []
    for i in range(start, start + count):
        openid = rng.choice(openids) if openids else new_openid(rng)
        # Nonce: unique per request. Position-derived digits guarantee uniqueness within the
        # run; the random head makes cross-run reuse (inside a replay window) very unlikely.
        nonce = f"{rng.randrange(10 ** 5, 10 ** 6)}{i % 10 ** 7:07d}"
        ts = str(timestamp)
        content = citizen_text(rng).replace("]]>", "]] >")
        xml = (
            f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msgid_base + i}</MsgId></xml>"
        )
        encrypt = enc.encrypt(xml)
        body = f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        query = (
            f"signature={sha1_sorted(token, ts, nonce)}&timestamp={ts}&nonce={nonce}"
            f"&openid={openid}&encrypt_type=aes&msg_signature={sha1_sorted(token, ts, nonce, encrypt)}"
        )
        lines.append(query + "\t" + body + "\n")
    return start, lines


def generate(n, path, split=1, openids=None, env=None, processes=None, seed=None):
    """Write n fresh requests to `path` (split == 1) or path.0 .. path.{split-1}.

    Returns a dict describing what was written. MsgIds start at a microsecond clock value
    times 1000, so two runs never share MsgIds (generating n requests takes far longer than
    n/1000 microseconds)."""
    token, app_id, aes_key = wechat_settings(env)
    seed = random.SystemRandom().randrange(2 ** 63) if seed is None else seed
    rng = random.Random(seed)
    pool_ids = make_openids(openids, rng) if openids else None  # None: a new citizen per request
    msgid_base = (time.time_ns() // 1000) * 1000
    timestamp = int(time.time())
    processes = processes or min(os.cpu_count() or 1, 4)
    chunk = max(1000, -(-n // (processes * 4)))
    jobs = [
        (s, min(chunk, n - s), rng.randrange(2 ** 63), msgid_base, pool_ids, timestamp, token, app_id, aes_key,
         DEFAULT_TO_USER)
        for s in range(0, n, chunk)
    ]
    t0 = time.perf_counter()
    paths = [path] if split == 1 else [f"{path}.{k}" for k in range(split)]
    files = [open(p, "w", encoding="utf-8") for p in paths]
    try:
        if processes > 1 and len(jobs) > 1:
            with Pool(processes, initializer=_pool_worker_init) as pool:
                results = pool.imap(_chunk, jobs)
                _write(results, files, split)
        else:
            _write(map(_chunk, jobs), files, split)
    finally:
        for f in files:
            f.close()
    return {
        "requests": n,
        "paths": paths,
        "split": split,
        "openids": openids or n,
        "timestamp": timestamp,
        "msgid_first": msgid_base,
        "msgid_last": msgid_base + n - 1,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _write(results, files, split):
    for start, lines in results:
        if split == 1:
            files[0].writelines(lines)
        else:
            for j, line in enumerate(lines):
                files[(start + j) % split].write(line)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--requests", type=int, default=10000)
    p.add_argument("-o", "--output", default="/tmp/minsheng-bench-requests.tsv")
    p.add_argument("--split", type=int, default=1, help="write N files, one per wrk thread")
    p.add_argument("--openids", type=int, default=None,
                   help="distinct citizens (FromUserName); default: a new one per request")
    p.add_argument("--processes", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    info = generate(a.requests, a.output, a.split, a.openids, processes=a.processes, seed=a.seed)
    print(f"wrote {info['requests']} requests to {', '.join(info['paths'])} in {info['seconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
