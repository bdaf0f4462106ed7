"""Cost of field encryption: one value, one model attribute, and a demo-sized batch.

Pure Python, no database: ``make bench``, or
``PYTHONPATH=. python benchmarks/field_encryption.py``.
"""
from __future__ import annotations

import time

import models  # noqa: F401 - registers the encrypted columns
from models import Customer, crypto
from models.crypto import KeyRing


def per_call(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    ring = KeyRing.generate()
    aad = crypto.aad("customer", "id_number", "0" * 32)
    value = "110101199003071234"
    token = ring.encrypt(value, aad)
    note = "家族企业二代,关注财富传承与隔离。" * 6
    note_token = ring.encrypt(note, aad)
    cases = [
        ("encrypt 18-character value", lambda: ring.encrypt(value, aad)),
        ("decrypt 18-character value", lambda: ring.decrypt(token, aad)),
        (f"encrypt {len(note)}-character note", lambda: ring.encrypt(note, aad)),
        (f"decrypt {len(note)}-character note", lambda: ring.decrypt(note_token, aad)),
        ("blind index (normalise + HMAC)", lambda: crypto.blind_index("id_number", value, ring)),
    ]
    for label, fn in cases:
        print(f"{label:<32}{per_call(fn, 50_000):6.2f} µs")
    with crypto.using_keyring(ring):
        customer = Customer(id_number=value, mobile="13800138000")
        cache = customer.__dict__

        def cold_read():
            cache.pop("_crm_decrypted", None)
            return customer.id_number

        values = ["110101199003071234", "11010119900307123X"]
        flip = [0]

        def assign_new():
            flip[0] ^= 1
            customer.id_number = values[flip[0]]

        for label, fn in (("customer.id_number read, cold", cold_read),
                          ("customer.id_number read, cached", lambda: customer.id_number),
                          ("customer.id_number = new value", assign_new)):
            print(f"{label:<32}{per_call(fn, 20_000):6.2f} µs")
        rows = [{"id": n, "id_number": value, "mobile": f"138{n:08d}", "email": "a@example.com",
                 "address": "南京市鼓楼区中山路1号", "annual_income": 120000, "family_notes": None,
                 "investment_notes": None} for n in range(10_000)]
        started = time.perf_counter()
        crypto.seal_rows("customer", rows, ring)
        accounts = [{"id": n, "account_no": f"62220{n:014d}"} for n in range(22_000)]
        crypto.seal_rows("account", accounts, ring)
        print(f"seal 10,000 customers + 22,000 accounts (the demo loader's extra work): "
              f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
