"""The ``intentusnet`` commands about files: ``verify``, ``sign``, ``keys generate``,
``cassettes list|verify|sign|prune|upgrade`` and ``golden export`` (the parser and the record-store
commands are in :mod:`intentusnet_core.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .cassette_tree import cassette_tree, check_cassette_dir
from .cassettes import CassetteFile
from .errors import IntentusError, RecordFormatError
from .records import ExecutionRecord
from .serialization import read_file_bytes
from .signing import SIGNATURE_SUFFIX, generate_keys, sign_file, verify_file
from .strict_json import parse_json

__all__ = ["cmd_cassettes_list", "cmd_cassettes_prune", "cmd_cassettes_sign",
           "cmd_cassettes_upgrade", "cmd_cassettes_verify", "cmd_golden_export",
           "cmd_keys_generate", "cmd_sign", "cmd_verify"]

def _verify_one(path: Path, args: argparse.Namespace) -> str:
    try:
        data = parse_json(read_file_bytes(path, what="cassette or record"), str(path))
    except FileNotFoundError:
        raise RecordFormatError(f"{path}: no such file; check the path") from None
    if isinstance(data, dict) and "kind" in data and "nodeId" not in data:
        from .golden import GoldenSet

        golden = GoldenSet.from_wire(data, source=path)
        what = f"golden set, {len(golden.cases)} cases, {len(golden.records)} records"
        records = [(f"{path} records[{i}]", r) for i, r in enumerate(golden.records)]
    elif isinstance(data, dict) and "nodeId" in data:
        cassette = CassetteFile.from_wire(data, source=path)
        what = f"cassette, {len(cassette.records)} records"
        records = [(f"{path} records[{i}]", r) for i, r in enumerate(cassette.records)]
    else:
        record = ExecutionRecord.from_wire(data, source=str(path), verify=True)
        what = f"record {record.execution_id}"
        records = [(str(path), record)]
    for source, loaded in records:  # loading checked hashes.record; walk every chain too
        loaded.verify(source=source)
    signed = os.path.lexists(path.with_name(path.name + SIGNATURE_SUFFIX))
    if signed or args.pub or args.require_signature:
        signer = verify_file(path, args.pub, root=args.root)
        what += f", signed by {signer}"
    return what


def cmd_verify(args: argparse.Namespace, refused: Sequence[str] = ()) -> int:
    failures = len(refused)
    for line in refused:
        print(f"FAIL  {line}")
    for name in args.paths:
        path = Path(name)
        try:
            print(f"ok    {path} ({_verify_one(path, args)})")
        except IntentusError as exc:
            failures += 1
            print(f"FAIL  {exc}")
    if failures:
        print(f"{failures} of {len(args.paths) + len(refused)} files failed verification. "
              "Restore them from version control or re-record them.", file=sys.stderr)
        return 1
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    for name in args.paths:
        print(f"signed {name} -> {sign_file(name, args.key, root=args.root)}")
    print("Next: intentusnet verify PATH --pub PUBLIC_KEY")
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    private, public = generate_keys(args.directory)
    print(f"private key: {private} (keep it secret)\npublic key:  {public}\n"
          f"Next: intentusnet sign FILE --key {private}")
    return 0

def _cassette_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json") if p.is_file()) \
        if directory.is_dir() else []


def cmd_cassettes_list(args: argparse.Namespace) -> int:
    check_cassette_dir(args.dir, must_exist=False)
    files = _cassette_files(Path(args.dir))
    for path in files:
        try:
            data = parse_json(read_file_bytes(path, what="cassette"), str(path))
        except FileNotFoundError:
            continue  # removed since it was listed
        if isinstance(data, dict) and "kind" in data and "nodeId" not in data:
            from .golden import GoldenSet  # a golden set kept among the cassettes

            golden = GoldenSet.from_wire(data, source=path)
            print(f"{path}  {len(golden.records)} executions  golden set")
            continue
        cassette = CassetteFile.from_wire(data, source=path, verify=False)
        print(f"{path}  {len(cassette.records)} executions  {cassette.node_id}")
    print(f"{len(files)} cassettes in {args.dir}. Next: intentusnet cassettes verify")
    return 0


def cmd_cassettes_verify(args: argparse.Namespace) -> int:
    check_cassette_dir(args.dir, must_exist=args.require_signature)
    files, refused = cassette_tree(args.dir)
    args.paths, args.root = [str(p) for p in files], args.dir
    if not files and not refused:
        print(f"no cassettes in {args.dir}")
        return 0
    return cmd_verify(args, refused)


def cmd_cassettes_sign(args: argparse.Namespace) -> int:
    check_cassette_dir(args.dir, must_exist=False)
    files, refused = cassette_tree(args.dir)
    failed = list(refused)
    for path in files:
        try:
            print(f"signed {path} -> {sign_file(path, args.key, root=args.dir)}")
        except IntentusError as exc:
            failed.append(str(exc))
    for line in failed:
        print(f"FAIL  {line}")
    print(f"{len(files) + len(refused) - len(failed)} files signed in {args.dir}"
          + (f", {len(failed)} refused" if failed else "")
          + f". Next: intentusnet cassettes verify --dir {args.dir} --pub PUBLIC_KEY "
            "--require-signature")
    return 1 if failed else 0


def cmd_cassettes_prune(args: argparse.Namespace) -> int:
    """Delegates to the plugin (``pytest --intentus-prune``, or ``--intentus-fail-unused``
    for a dry run): only a full, green run of every test may say which cassettes no test
    could use (fixture and marker names, skipped and ignored modules included); the plugin
    refuses to delete anything after a partial or failed run."""
    import subprocess

    flag = "--intentus-fail-unused" if args.dry_run else "--intentus-prune"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", flag,
               "--intentus-cassette-dir", args.dir]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines()
             if line.startswith(("intentusnet:", "unused cassette", "deleted", "would delete"))
             or "unused cassette" in line]
    print("\n".join(lines) if lines else done.stdout.strip()[-2000:])
    if any("prune refused" in line for line in lines):
        return 1
    if done.returncode not in (0, 1) or (done.returncode == 1 and not args.dry_run):
        print(f"intentusnet: error: the test run failed (pytest exit {done.returncode}), so "
              "nothing was pruned; make the suite green first: "
              f"python -m pytest {flag}", file=sys.stderr)
        return 2
    return 0


def cmd_cassettes_upgrade(args: argparse.Namespace) -> int:
    """Rewrite every formatVersion 1 record under ``--dir`` (cassettes, golden sets, record
    files) as the current version, identity hashes unchanged; with ``--check``, write
    nothing and exit 1 listing the files that would change. A file refused (malformed,
    edited, hostile) is named on one line, and then no file is written."""
    from .upgrade import upgrade_files, write_plan

    check_cassette_dir(args.dir, must_exist=True, action="upgraded",
                       command="intentusnet cassettes upgrade --dir DIR")
    plans, refused = upgrade_files(args.dir)
    changing = [plan for plan in plans if plan.text is not None]
    verb = "would upgrade" if args.check else "upgraded"
    for line in refused:
        print(f"FAIL  {line}")
    if refused:
        print(f"{len(refused)} files refused, nothing was written: restore or re-record "
              f"them, then run: intentusnet cassettes upgrade --dir {args.dir}",
              file=sys.stderr)
        return 1
    records = 0
    for plan in changing:
        if not args.check:
            try:
                write_plan(plan)
            except IntentusError as exc:
                print(f"FAIL  {exc}")
                return 1
        records += plan.upgraded
        print(f"{verb} {plan.path} ({plan.describe()})")
    resign = [plan for plan in changing if plan.signed]
    when = "would no longer match" if args.check else "no longer matches"
    for plan in resign:
        print(f"note  {plan.path}: its signature covers the old bytes and {when} the "
              "upgraded file; sign it again")
    summary = (f"{len(changing)} files {'would be upgraded' if args.check else verb} "
               f"({records} records), "
               f"{len(plans) - len(changing)} already current, in {args.dir}.")
    if args.check:
        print(summary + (f" Next: intentusnet cassettes upgrade --dir {args.dir}"
                         if changing else ""))
        return 1 if changing else 0
    if resign:
        summary += (f" {len(resign)} signed files need a new signature: intentusnet "
                    f"cassettes sign --dir {args.dir} --key PRIVATE_KEY")
    else:
        summary += f" Next: intentusnet cassettes verify --dir {args.dir}"
    print(summary)
    return 0


def cmd_golden_export(args: argparse.Namespace) -> int:
    from .golden import export_golden

    # a path or URL: opened without creating it, closed after, named in errors as typed
    golden = export_golden(args.store, args.out, intent=args.intent, agent=args.agent,
                           status=args.status, since=args.since, until=args.until,
                           limit=args.limit)
    print(f"exported {len(golden.cases)} executions ({len(golden.records)} records with "
          f"their children) to {args.out}")
    if golden.skipped:
        print(f"left out {len(golden.skipped)} executions that cannot be replayed "
              "(interrupted)")
    print(f"Next: mark a test @pytest.mark.intentus_golden({str(args.out)!r}) and route "
          f"intentus_golden.envelope; sign the file: intentusnet sign {args.out} --key KEY")
    return 0
