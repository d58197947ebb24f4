"""The verifiable audit log end to end with the real broker: activity in the services lands in the log, a signed
checkpoint and an export come out of the API, the offline verifier (the real command line) accepts the export and
fails tampered copies at the right entry; proofs from the API verify; only regulators and admins get in."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from audit.domain.checkpoint import verify_signature
from audit.domain.merkle import verify_consistency, verify_inclusion

from tests.support.platform import PlatformUnderTest, eventually, mint
from tests.test_makerspace_bookings import Space

REGISTERED = "cn.sizhong.identity.organisation.registered.v1"


def verify(path: Path, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.verify", str(path), "--public-key", key],
                          capture_output=True, text=True, timeout=120, check=False)


def entry_positions(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith('{"kind":"entry"')]


async def test_activity_exports_verifies_and_tampered_copies_fail_at_the_right_entry(
    platform: PlatformUnderTest, tmp_path: Path,
) -> None:
    _, owner = await platform.person("enterprise")
    organisations = [await platform.register_organisation(owner) for _ in range(3)]
    async with platform.client("makerspace") as client:
        space = await Space.create(platform, client)

    async def logged() -> None:
        for organisation in organisations:
            assert len(await platform.audit_entries(subject=organisation["id"], type=REGISTERED)) == 1
        assert await platform.audit_entries(subject=space.id)

    await eventually(logged, within=15)
    async with platform.client("audit") as audit:
        key = (await audit.get("/log/public-key")).json()  # public: no token
        created = await audit.post("/log/checkpoints", headers=platform.regulator)
        assert created.status_code == 201, created.text
        checkpoint = created.json()
        assert checkpoint["signed_body"].startswith(f"sizhong-audit\n{checkpoint['tree_size']}\n")
        assert verify_signature(base64.b64decode(key["public_key"]), checkpoint["tree_size"],
                                bytes.fromhex(checkpoint["root_hash"]), checkpoint["timestamp"],
                                base64.b64decode(checkpoint["signature"]))
        export = await audit.get("/log/export", headers=platform.regulator, params={"signed_only": "true"})
        assert export.status_code == 200, export.text
        assert export.headers["content-type"].startswith("application/x-ndjson")
        paged = [await audit.get("/log/export", headers=platform.regulator,
                                 params={"after": after, "limit": 5, "signed_only": "true"})
                 for after in range(-1, checkpoint["tree_size"] - 1, 5)]
    text = export.text
    assert "".join(page.text for page in paged) == text
    lines = text.splitlines(keepends=True)
    assert len(entry_positions(lines)) == checkpoint["tree_size"]
    for organisation in organisations:
        assert organisation["id"] in text

    original = tmp_path / "export.jsonl"
    original.write_text(text, encoding="utf-8")
    accepted = verify(original, key["public_key"])
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.startswith(f"OK {checkpoint['tree_size']} entries")

    entries = entry_positions(lines)
    victim = next(i for i, at in enumerate(entries) if organisations[1]["id"] in lines[at])

    def check(name: str, tampered: list[str], expected: str) -> None:
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(tampered), encoding="utf-8")
        refused = verify(path, key["public_key"])
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert refused.stdout.startswith(f"FAIL {expected}"), refused.stdout

    one_byte = list(lines)
    at = entries[victim]
    spot = one_byte[at].index(organisations[1]["id"])
    one_byte[at] = one_byte[at][:spot] + ("0" if one_byte[at][spot] != "0" else "1") + one_byte[at][spot + 1:]
    check("one-byte", one_byte, f"entry {victim}: altered")
    dropped = [line for i, line in enumerate(lines) if i != entries[victim]]
    check("dropped", dropped, f"entry {victim}: removed")
    swapped = list(lines)
    swapped[entries[victim]], swapped[entries[victim + 1]] = swapped[entries[victim + 1]], swapped[entries[victim]]
    check("swapped", swapped, f"entry {victim}: reordered")


async def test_proofs_from_the_api_verify_against_signed_checkpoints(platform: PlatformUnderTest) -> None:
    _, owner = await platform.person("enterprise")
    first_org = await platform.register_organisation(owner)
    [entry] = await eventually(lambda: _entries_of(platform, first_org["id"]))
    async with platform.client("audit") as audit:
        older = (await audit.post("/log/checkpoints", headers=platform.regulator)).json()
        later_org = await platform.register_organisation(owner)
        await eventually(lambda: _entries_of(platform, later_org["id"]))
        ran = await audit.post("/testing/jobs/checkpoint/run", headers=platform.admin)  # the periodic job, now
        assert ran.status_code == 200 and ran.json()["acted"] == 1, ran.text
        newer = (await audit.get("/log/checkpoints/latest", headers=platform.regulator)).json()
        assert newer["tree_size"] > older["tree_size"] and newer["number"] > older["number"]
        listed = (await audit.get("/log/checkpoints", headers=platform.regulator,
                                  params={"after_number": older["number"] - 1})).json()["checkpoints"]
        assert [c["number"] for c in listed][:1] == [older["number"]]

        inclusion = (await audit.get("/log/proofs/inclusion", headers=platform.regulator,
                                     params={"index": entry["index"], "tree_size": older["tree_size"]})).json()
        assert inclusion["leaf_hash"] == entry["leaf_hash"] and inclusion["root_hash"] == older["root_hash"]
        assert verify_inclusion(entry["index"], older["tree_size"], bytes.fromhex(entry["leaf_hash"]),
                                [bytes.fromhex(p) for p in inclusion["audit_path"]], bytes.fromhex(older["root_hash"]))
        consistency = (await audit.get("/log/proofs/consistency", headers=platform.regulator,
                                       params={"first": older["tree_size"], "second": newer["tree_size"]})).json()
        assert verify_consistency(older["tree_size"], newer["tree_size"], bytes.fromhex(older["root_hash"]),
                                  bytes.fromhex(newer["root_hash"]),
                                  [bytes.fromhex(p) for p in consistency["consistency_path"]])


async def _entries_of(platform: PlatformUnderTest, subject: str) -> list[dict]:
    entries = await platform.audit_entries(subject=subject, type=REGISTERED)
    assert len(entries) == 1
    return entries


async def test_only_regulators_and_admins_and_bad_input_gets_4xx(platform: PlatformUnderTest) -> None:
    _, person = await platform.person("enterprise")
    routes = [("GET", "/log/export"), ("GET", "/log/checkpoints"), ("POST", "/log/checkpoints"),
              ("GET", "/log/proofs/inclusion?index=0"), ("GET", "/log/proofs/consistency?first=0&second=0"),
              ("GET", "/log/root")]
    async with platform.client("audit") as audit:
        for method, path in routes:
            assert (await audit.request(method, path)).status_code == 401, path
            assert (await audit.request(method, path, headers=person)).status_code == 403, path
            assert (await audit.request(method, path, headers=mint("x", "investor"))).status_code == 403, path
        size = (await audit.get("/log/root", headers=platform.regulator)).json()["tree_size"]
        bad = [("/log/proofs/inclusion", {"index": size, "tree_size": size}, "index"),
               ("/log/proofs/inclusion", {"index": 0, "tree_size": size + 10}, "tree_size"),
               ("/log/proofs/inclusion", {"index": -1}, "index"),
               ("/log/proofs/inclusion", {"index": 2**40}, "index"),
               ("/log/proofs/inclusion", {"index": "x"}, "index"),
               ("/log/proofs/inclusion", {}, "index"),
               ("/log/proofs/consistency", {"first": 2, "second": 1}, "first"),
               ("/log/proofs/consistency", {"first": 0, "second": size + 10}, "second"),
               ("/log/proofs/consistency", {"first": 0, "second": 2**63}, "second"),
               ("/log/export", {"after": -2}, "after"), ("/log/export", {"limit": 0}, "limit"),
               ("/log/checkpoints", {"limit": 5000}, "limit")]
        for path, params, field in bad:
            response = await audit.get(path, headers=platform.regulator, params=params)
            assert response.status_code == 422, (path, params, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert any(e["field"].endswith(field) for e in response.json()["errors"]), response.json()
        public = await audit.get("/log/public-key")
        assert public.status_code == 200 and len(base64.b64decode(public.json()["public_key"])) == 32
        assert json.loads(public.text)["algorithm"] == "Ed25519"
