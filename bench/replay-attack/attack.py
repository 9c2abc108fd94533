"""A signed-in client's read latency, idle and while anonymous sockets replay the
history without end (bench/replay-attack.sh runs it against one instance).

Env: BASE (http://127.0.0.1:PORT), TOKEN (admin token), HISTORY (events to write first),
ATTACKERS, IDLE_SECS, ATTACK_SECS. Prints one JSON object.
"""

import asyncio
import json
import os
import time

import httpx
import websockets

BASE = os.environ["BASE"]
TOKEN = os.environ["TOKEN"]
HISTORY = int(os.environ.get("HISTORY", "3000"))
ATTACKERS = int(os.environ.get("ATTACKERS", "50"))
IDLE_SECS = float(os.environ.get("IDLE_SECS", "10"))
ATTACK_SECS = float(os.environ.get("ATTACK_SECS", "15"))


async def write_history(n):
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=BASE, headers=headers, timeout=10) as c:
        gate = asyncio.Semaphore(16)

        async def one(i):
            async with gate:
                r = await c.put(f"/api/products/{1 + i % 100}", json={"description": f"history {i}"})
                r.raise_for_status()

        await asyncio.gather(*(one(i) for i in range(n)))


async def signed_in_client():
    c = httpx.AsyncClient(base_url=BASE, timeout=10)
    creds = {"email": f"bench{time.time_ns()}@example.com", "password": "correct horse battery"}
    (await c.post("/api/auth/register", json=creds)).raise_for_status()
    (await c.post("/api/auth/login", json=creds)).raise_for_status()
    return c


async def reads(c, secs):
    """Sequential reads for `secs`: latencies in ms and the statuses that were not 200."""
    latencies, bad = [], {}
    end = time.monotonic() + secs
    i = 0
    while time.monotonic() < end:
        t0 = time.perf_counter()
        r = await c.get(f"/api/products/{1 + i % 100}")
        latencies.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            bad[r.status_code] = bad.get(r.status_code, 0) + 1
        i += 1
    return latencies, bad


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


async def attacker(stop, counts):
    url = BASE.replace("http", "ws", 1) + "/ws"
    frame = json.dumps({"type": "subscribe", "topics": ["products"], "since": 1})
    while not stop.is_set():
        try:
            async with websockets.connect(url, max_size=None) as ws:
                while not stop.is_set():
                    await ws.send(frame)
                    try:
                        while True:
                            msg = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
                            kind = msg.get("code") or msg.get("type")
                            if kind in ("replay_limited", "resync", "subscribed"):
                                counts[kind] = counts.get(kind, 0) + 1
                    except asyncio.TimeoutError:
                        pass
        except Exception:  # closed or refused: open another, as an attacker would
            counts["reconnects"] = counts.get("reconnects", 0) + 1
            await asyncio.sleep(0.05)


async def breaker_opened():
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=BASE, headers=headers) as c:
        m = (await c.get("/admin/metrics/cache")).json()
        return m["cache"]["breaker"]["opened"]


async def main():
    await write_history(HISTORY)
    client = await signed_in_client()
    await reads(client, 2)  # warm L1 and the connection
    idle, idle_bad = await reads(client, IDLE_SECS)
    opened_before = await breaker_opened()
    stop, counts = asyncio.Event(), {}
    tasks = [asyncio.create_task(attacker(stop, counts)) for _ in range(ATTACKERS)]
    attacked, attacked_bad = await reads(client, ATTACK_SECS)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    opened_after = await breaker_opened()
    print(json.dumps({
        "idle": {"reads": len(idle), "p50_ms": pct(idle, 50), "p99_ms": pct(idle, 99), "not_200": idle_bad},
        "attacked": {"reads": len(attacked), "p50_ms": pct(attacked, 50), "p99_ms": pct(attacked, 99),
                     "not_200": attacked_bad},
        "p99_ratio": pct(attacked, 99) / pct(idle, 99),
        "breaker_opened_during_attack": opened_after - opened_before,
        "attackers": ATTACKERS, "answers": counts,
    }, indent=1))


asyncio.run(main())
