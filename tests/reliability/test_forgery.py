"""Must-fail verifier tests (Sigstore style): one named test per way to pass off a signed
cassette as something it is not. Each starts from cassettes signed by the trusted key for
their place and is checked the way CI checks them,
``intentusnet cassettes verify --dir cassettes --pub KEY --require-signature``, and the way
the plugin checks them (``verify_file(path, key, root=, node_id=)``). Every forgery must
fail, with a message that says which one it is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from intentusnet_core import SignatureError, generate_keys, sign_file, verify_file
from intentusnet_core.cli import main
from intentusnet_core.signing import SIGNATURE_FORMAT_VERSION, load_private_key

from .figures import Figures
from .samples import cassette_of, small_record

NODE_A = "tests/test_app.py::test_a"
NODE_B = "tests/test_app.py::test_b"


@dataclass
class World:
    root: Path        # the cassette directory
    a: Path           # test A's cassette (signed)
    b: Path           # test B's cassette (signed)
    public: Path      # the trusted public key
    private: Path
    other_private: Path
    outside: Path     # a folder next to the cassette directory


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = tmp_path / "project" / "cassettes"
    a = root / "tests" / "test_app" / "test_a.json"
    b = root / "tests" / "test_app" / "test_b.json"
    cassette_of([small_record("a", text="answer for A")], NODE_A).save(a)
    cassette_of([small_record("b", text="answer for B")], NODE_B).save(b)
    private, public = generate_keys(tmp_path / "keys")
    other_private, _ = generate_keys(tmp_path / "attacker")
    for path in (a, b):
        sign_file(path, private, root=root)
    outside = tmp_path / "project" / "elsewhere"
    outside.mkdir()
    return World(root, a, b, public, private, other_private, outside)


def sig(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def ci_verify(world: World, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``intentusnet cassettes verify --pub KEY --require-signature``: (exit code, FAIL lines)."""
    started = time.monotonic()
    code = main(["cassettes", "verify", "--dir", str(world.root), "--pub", str(world.public),
                 "--require-signature"])
    assert time.monotonic() - started < 5, "cassettes verify took over 5 s"
    out = capsys.readouterr().out
    return code, "\n".join(line for line in out.splitlines() if line.startswith("FAIL"))


def refused(world: World, capsys: pytest.CaptureFixture[str], figures: Figures,
            *expected: str) -> str:
    code, failures = ci_verify(world, capsys)
    figures.add("tamper_classes")
    figures.add("tamper_detected", int(code == 1 and bool(failures)))
    assert code == 1, failures
    for words in expected:
        assert words in failures, failures
    return failures


def test_the_untouched_tree_verifies(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: without a forgery, CI passes and the plugin's check holds."""
    assert ci_verify(world, capsys) == (0, "")
    assert verify_file(world.a, world.public, root=world.root, node_id=NODE_A)


def test_moved_cassette_with_its_sig_fails(world: World,
                                           capsys: pytest.CaptureFixture[str],
                                           figures: Figures) -> None:
    """A's cassette and .sig copied over B's: the signature names A's path."""
    shutil.copy(world.a, world.b)
    shutil.copy(sig(world.a), sig(world.b))
    failures = refused(world, capsys, figures, f"{world.b}: signed for path "
                       "'tests/test_app/test_a.json', found at 'tests/test_app/test_b.json'")
    assert f"ok    {world.a}" not in failures
    with pytest.raises(SignatureError, match="signed for path"):
        verify_file(world.b, world.public, root=world.root, node_id=NODE_B)


def test_cassette_moved_to_another_module_folder_fails(world: World,
                                                       capsys: pytest.CaptureFixture[str],
                                                       figures: Figures) -> None:
    """Same file name, another module: the whole relative path is signed, not the name."""
    target = world.root / "tests" / "test_other" / "test_a.json"
    target.parent.mkdir()
    shutil.copy(world.a, target)
    shutil.copy(sig(world.a), sig(target))
    refused(world, capsys, figures, "found at 'tests/test_other/test_a.json'")


def test_cassette_loaded_for_another_test_fails(world: World, figures: Figures) -> None:
    """Swapped node id: a cassette in its own place, loaded for another test (what the
    plugin does when a test names another test's file with ``cassette=``)."""
    with pytest.raises(SignatureError) as caught:
        verify_file(world.a, world.public, root=world.root, node_id=NODE_B)
    figures.add("tamper_classes")
    figures.add("tamper_detected")
    assert f"signed for test {NODE_A!r}, loaded for test {NODE_B!r}" in str(caught.value)


def test_node_id_edited_in_the_sig_fails(world: World, capsys: pytest.CaptureFixture[str],
                                         figures: Figures) -> None:
    """Swapped node id inside the .sig (to claim the file for B): the signature breaks."""
    data = json.loads(sig(world.a).read_text("utf-8"))
    data["nodeId"] = NODE_B
    sig(world.a).write_text(json.dumps(data), "utf-8")
    refused(world, capsys, figures, f"{world.a}: invalid signature")
    with pytest.raises(SignatureError, match="invalid signature"):
        verify_file(world.a, world.public, root=world.root, node_id=NODE_B)


def test_path_edited_in_the_sig_fails(world: World, capsys: pytest.CaptureFixture[str],
                                      figures: Figures) -> None:
    """Moved, and the .sig's path field rewritten to the new place: the signature breaks."""
    shutil.copy(world.a, world.b)
    data = json.loads(sig(world.a).read_text("utf-8"))
    data["path"], data["file"] = "tests/test_app/test_b.json", "test_b.json"
    sig(world.b).write_text(json.dumps(data), "utf-8")
    refused(world, capsys, figures, f"{world.b}: invalid signature")


def test_old_format_signature_is_refused(world: World, capsys: pytest.CaptureFixture[str],
                                         figures: Figures) -> None:
    """A formatVersion 1 .sig (hash only, as earlier versions wrote it), genuinely made by
    the trusted key: refused with the command that re-signs it."""
    assert SIGNATURE_FORMAT_VERSION == 2
    key = load_private_key(world.private)
    digest = "sha256:" + hashlib.sha256(world.a.read_bytes()).hexdigest()
    old = {"formatVersion": 1, "algorithm": "ed25519", "file": world.a.name,
           "sha256": digest, "publicKey": json.loads(sig(world.a).read_text())["publicKey"],
           "signature": base64.b64encode(key.sign(
               b"intentusnet-file-signature-v1\n" + digest.encode())).decode()}
    sig(world.a).write_text(json.dumps(old), "utf-8")
    failures = refused(world, capsys, figures, "formatVersion 1 signed the file's hash only",
                       "Re-sign: intentusnet cassettes sign --dir DIR --key KEY")
    assert "\n" not in failures


def test_symlinked_cassette_leaving_the_directory_is_refused(
        world: World, capsys: pytest.CaptureFixture[str], figures: Figures) -> None:
    """A cassette path that is a symlink to a file outside the cassette directory, signed
    there: refused by the tree walk and by the plugin's check."""
    evil = world.outside / "test_c.json"
    cassette_of([small_record("c")], "tests/test_app.py::test_c").save(evil)
    sign_file(evil, world.private, root=world.outside)
    link = world.root / "tests" / "test_app" / "test_c.json"
    link.symlink_to(evil)
    shutil.copy(sig(evil), sig(link))
    refused(world, capsys, figures, f"{link}: a symlink to {evil}, outside the cassette "
                                    "directory")
    with pytest.raises(SignatureError, match="outside the cassette directory"):
        verify_file(link, world.public, root=world.root)


def test_symlinked_folder_leaving_the_directory_is_refused(
        world: World, capsys: pytest.CaptureFixture[str], figures: Figures) -> None:
    """A folder link out of the cassette directory is refused, not silently skipped."""
    (world.outside / "test_d.json").write_text("{}", "utf-8")
    link = world.root / "tests" / "test_ext"
    link.symlink_to(world.outside, target_is_directory=True)
    refused(world, capsys, figures, f"{link}: a symlink to {world.outside}, outside")


def test_symlinked_folder_alias_inside_the_directory_fails(
        world: World, capsys: pytest.CaptureFixture[str], figures: Figures) -> None:
    """A folder link inside the directory is followed: its files are checked under the
    link's path, which is not the path they were signed for."""
    (world.root / "tests" / "test_alias").symlink_to(world.root / "tests" / "test_app",
                                                    target_is_directory=True)
    failures = refused(world, capsys, figures, "found at 'tests/test_alias/test_a.json'",
                       "found at 'tests/test_alias/test_b.json'")
    assert "test_app/test_a.json: signed" not in failures


def test_symlinked_folder_loop_is_refused_without_hanging(
        world: World, capsys: pytest.CaptureFixture[str], figures: Figures) -> None:
    (world.root / "tests" / "loop").symlink_to(world.root / "tests",
                                               target_is_directory=True)
    refused(world, capsys, figures, "(a loop)")


def test_cassette_with_another_extension_is_checked(world: World,
                                                    capsys: pytest.CaptureFixture[str],
                                                    figures: Figures) -> None:
    """``cassette="test_b.yaml"`` makes the plugin load a .yaml file: verify checks it too
    (unsigned here), and a copied .sig does not cover it."""
    other = world.root / "tests" / "test_app" / "test_b.yaml"
    shutil.copy(world.a, other)
    refused(world, capsys, figures, f"{other}: unsigned")
    shutil.copy(sig(world.a), sig(other))
    refused(world, capsys, figures, "found at 'tests/test_app/test_b.yaml'")


def test_tampered_byte_fails(world: World, capsys: pytest.CaptureFixture[str],
                             figures: Figures) -> None:
    data = bytearray(world.a.read_bytes())
    data[data.index(b"answer for A")] = ord("e")
    world.a.write_bytes(bytes(data))
    refused(world, capsys, figures, f"FAIL  {world.a}")
    with pytest.raises(SignatureError, match="changed after it was signed"):
        verify_file(world.a, world.public, root=world.root, node_id=NODE_A)


def test_signature_by_another_key_fails(world: World, capsys: pytest.CaptureFixture[str],
                                        figures: Figures) -> None:
    """The attacker re-signs the moved cassette for its new place with their own key."""
    shutil.copy(world.a, world.b)
    sign_file(world.b, world.other_private, root=world.root)
    refused(world, capsys, figures, f"{world.b}: signed by another key")
    with pytest.raises(SignatureError, match="signed by another key"):
        verify_file(world.b, world.public, root=world.root, node_id=NODE_B)


def test_signature_with_a_fresh_key_and_the_trusted_key_embedded_fails(
        world: World, capsys: pytest.CaptureFixture[str], figures: Figures) -> None:
    """The attacker signs with a fresh key but writes the trusted public key in the .sig."""
    shutil.copy(world.a, world.b)
    sign_file(world.b, Ed25519PrivateKey.generate(), root=world.root)
    data = json.loads(sig(world.b).read_text("utf-8"))
    data["publicKey"] = json.loads(sig(world.a).read_text("utf-8"))["publicKey"]
    sig(world.b).write_text(json.dumps(data), "utf-8")
    refused(world, capsys, figures, f"{world.b}: invalid signature")


def test_unsigned_cassette_fails_only_when_signatures_are_required(
        world: World, capsys: pytest.CaptureFixture[str], figures: Figures) -> None:
    os.unlink(sig(world.b))
    refused(world, capsys, figures, f"{world.b}: unsigned")
    assert main(["cassettes", "verify", "--dir", str(world.root)]) == 0
