"""The ``intentusnet`` command line.

Every command prints JSON or readable text on stdout, one-line errors on stderr, and exits
0 on success, 1 when a check fails (drift, tampering, bad signature), 2 on bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cassette_tree import cassette_tree
from .cassettes import CassetteFile
from .drift import diff_records
from .errors import IntentusError, RecordFormatError
from .records import ExecutionRecord
from .replaying import replay
from .serialization import read_file_bytes
from .signing import SIGNATURE_SUFFIX, generate_keys, sign_file, verify_file
from .stores import ExecutionStore, open_store
from .strict_json import parse_json

__all__ = ["main"]

DEFAULT_STORE = ".intentusnet/records.db"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _store(args: argparse.Namespace, *, create: bool = False) -> ExecutionStore:
    # reading never creates a store: a mistyped --store must not leave an empty one behind
    store = open_store(args.store, create=create)
    args.opened.append(store)
    return store


def _close(stores: list[ExecutionStore]) -> None:
    # closing lets SQLite fold and remove its -wal/-shm files: a read leaves no new file
    for store in stores:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def _summary(record: ExecutionRecord) -> dict[str, Any]:
    final = record.final_response or {}
    error = final.get("error") or {}
    return {"executionId": record.execution_id, "createdAt": record.created_at,
            "intent": record.intent_name, "agent": record.agent, "status": record.status,
            "outcome": final.get("status"), "errorCode": error.get("code"),
            "replayable": record.replayable}


def cmd_records_list(args: argparse.Namespace) -> int:
    records = _store(args).list(intent=args.intent, agent=args.agent, status=args.status,
                                limit=args.limit)
    if args.json:
        _print_json([_summary(r) for r in records])
        return 0
    if not records:
        print(f"no records in {_shown(args.store)}; route an intent with recording on first")
        return 0
    for r in records:
        s = _summary(r)
        print(f"{s['executionId']}  {s['createdAt']}  {s['intent']:<20} "
              f"{s['agent'] or '-':<20} {s['status']:<11} {s['outcome'] or '-'}"
              f"{' ' + s['errorCode'] if s['errorCode'] else ''}")
    print(f"{len(records)} records. Next: intentusnet records show ID")
    return 0


def cmd_records_show(args: argparse.Namespace) -> int:
    _print_json(_store(args).load(args.execution_id).to_wire())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    response = replay(args.execution_id, _store(args))
    _print_json({"from_replay": True, "execution_id": args.execution_id,
                 "status": response.status, "payload": response.payload,
                 "error": response.error.model_dump(mode="json") if response.error else None})
    return 0


def _load_record(ref: str, args: argparse.Namespace) -> ExecutionRecord:
    path = Path(ref)
    if path.suffix == ".json" and os.path.lexists(path):
        # read_file_bytes refuses a FIFO, device or directory (never hangs) in plain words
        return ExecutionRecord.from_json(read_file_bytes(path, what="record file"),
                                         source=str(path), verify=True)
    return _store(args).load(ref)


def cmd_diff(args: argparse.Namespace) -> int:
    report = diff_records(_load_record(args.before, args), _load_record(args.after, args),
                          ignore=args.ignore or ())
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.render())
    return 1 if report.has_drift else 0


def _shown(store: str) -> str:
    """*store* as it may be printed: a password in a URL (``scheme://user:PASS@host``)
    becomes ``***``."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", store)


def _verify_one(path: Path, args: argparse.Namespace) -> str:
    try:
        data = parse_json(read_file_bytes(path, what="cassette or record"), str(path))
    except FileNotFoundError:
        raise RecordFormatError(f"{path}: no such file; check the path") from None
    if isinstance(data, dict) and "kind" in data and "nodeId" not in data:
        from .golden import GoldenSet

        golden = GoldenSet.from_wire(data, source=path)
        what = f"golden set, {len(golden.cases)} cases, {len(golden.records)} records"
    elif isinstance(data, dict) and "nodeId" in data:
        cassette = CassetteFile.from_wire(data, source=path)
        what = f"cassette, {len(cassette.records)} records"
    else:
        record = ExecutionRecord.from_wire(data, source=str(path), verify=True)
        what = f"record {record.execution_id}"
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


def cmd_recover(args: argparse.Namespace) -> int:
    store = _store(args, create=True)
    recovered = store.recover()
    for record in recovered:
        print(f"interrupted {record.execution_id}: {record.replayable_reason}")
    print(f"{len(recovered)} unfinished executions marked interrupted in {_shown(args.store)}")
    return 0


def _cassette_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json") if p.is_file()) \
        if directory.is_dir() else []


def cmd_cassettes_list(args: argparse.Namespace) -> int:
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
    files, refused = cassette_tree(args.dir)
    args.paths, args.root = [str(p) for p in files], args.dir
    if not files and not refused:
        print(f"no cassettes in {args.dir}")
        return 0
    return cmd_verify(args, refused)


def cmd_cassettes_sign(args: argparse.Namespace) -> int:
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


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.directory, keep=bool(args.keep))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intentusnet",
        description="Inspect, replay, diff, sign and verify intentusnet execution records "
                    "and cassettes.",
        epilog="Start with `intentusnet demo` to see record -> replay -> model swap -> drift.")
    store_help = (f"record store: path (*.db = SQLite, directory = files) or URL "
                  f"(default {DEFAULT_STORE}); before or after the command")
    parser.add_argument("--store", default=DEFAULT_STORE, help=store_help)
    # the same option after the subcommand (`records list --store x.db`), where users type
    # every other flag; SUPPRESS keeps the global value unless it is given here
    store_option = argparse.ArgumentParser(add_help=False)
    store_option.add_argument("--store", default=argparse.SUPPRESS, help=store_help)
    stored = [store_option]
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    records = commands.add_parser("records", help="list or show recorded executions")
    records_sub = records.add_subparsers(dest="records_command", metavar="ACTION")
    records_sub.required = True
    listing = records_sub.add_parser("list", help="list executions (oldest first)",
                                     parents=stored)
    listing.add_argument("--intent")
    listing.add_argument("--agent")
    listing.add_argument("--status", choices=["completed", "interrupted"])
    listing.add_argument("--limit", type=int)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_records_list)
    show = records_sub.add_parser("show", help="print one record as JSON", parents=stored)
    show.add_argument("execution_id")
    show.set_defaults(func=cmd_records_show)

    rep = commands.add_parser("replay", help="print the recorded response; runs no agent",
                              parents=stored)
    rep.add_argument("execution_id")
    rep.set_defaults(func=cmd_replay)

    diff = commands.add_parser("diff", help="drift between two executions (ids or .json files)",
                               parents=stored)
    diff.add_argument("before")
    diff.add_argument("after")
    diff.add_argument("--json", action="store_true", help="print the DriftReport as JSON")
    diff.add_argument("--ignore", action="append", metavar="PATH",
                      help="field path to ignore (wildcards *), repeatable")
    diff.set_defaults(func=cmd_diff)

    root_help = ("cassette directory a signature binds paths relative to (default: the "
                 "nearest folder named 'cassettes' above the file, else its folder)")
    verify = commands.add_parser("verify", help="check hashes (and signatures) of files")
    verify.add_argument("paths", nargs="+", metavar="PATH")
    verify.add_argument("--pub", help="public key the files must be signed with")
    verify.add_argument("--require-signature", action="store_true",
                        help="fail unsigned files")
    verify.add_argument("--root", metavar="DIR", help=root_help)
    verify.set_defaults(func=cmd_verify)

    sign = commands.add_parser("sign", help="sign files with an Ed25519 key (writes PATH.sig)")
    sign.add_argument("paths", nargs="+", metavar="PATH")
    sign.add_argument("--key", required=True, help="private key file")
    sign.add_argument("--root", metavar="DIR", help=root_help)
    sign.set_defaults(func=cmd_sign)

    keys = commands.add_parser("keys", help="manage signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    keys_sub.required = True
    generate = keys_sub.add_parser("generate", help="write a new Ed25519 key pair into DIR")
    generate.add_argument("directory", metavar="DIR")
    generate.set_defaults(func=cmd_keys_generate)

    recover = commands.add_parser("recover", parents=stored,
                                  help="mark executions that never finished as interrupted")
    recover.set_defaults(func=cmd_recover)

    cassettes = commands.add_parser("cassettes", help="list, verify, sign or prune cassettes")
    cassettes_sub = cassettes.add_subparsers(dest="cassettes_command", metavar="ACTION")
    cassettes_sub.required = True
    for name, func, text in (("list", cmd_cassettes_list, "list cassettes"),
                             ("verify", cmd_cassettes_verify, "verify every cassette"),
                             ("sign", cmd_cassettes_sign,
                              "sign every cassette for its path and test"),
                             ("prune", cmd_cassettes_prune,
                              "delete cassettes of tests that no longer exist")):
        sub = cassettes_sub.add_parser(name, help=text)
        sub.add_argument("--dir", default="cassettes", help="cassette directory")
        if name == "verify":
            sub.add_argument("--pub", help="public key the cassettes must be signed with")
            sub.add_argument("--require-signature", action="store_true")
        if name == "sign":
            sub.add_argument("--key", required=True, help="private key file")
        if name == "prune":
            sub.add_argument("--dry-run", action="store_true")
        sub.set_defaults(func=func)

    golden = commands.add_parser("golden", help="golden suites from recorded executions")
    golden_sub = golden.add_subparsers(dest="golden_command", metavar="ACTION")
    golden_sub.required = True
    export = golden_sub.add_parser("export", parents=stored,
                                   help="write the selected executions as a golden-set file")
    export.add_argument("--intent", help="only top-level executions of this intent")
    export.add_argument("--agent", help="only executions answered by this agent")
    export.add_argument("--status", choices=["completed", "interrupted"])
    export.add_argument("--since", metavar="ISO", help="created at or after this instant")
    export.add_argument("--until", metavar="ISO", help="created before this instant")
    export.add_argument("--limit", type=int, help="at most LIMIT executions, oldest first")
    export.add_argument("--out", required=True, metavar="PATH", help="golden-set file")
    export.set_defaults(func=cmd_golden_export)

    demo = commands.add_parser("demo", help="run the whole story: record, replay, model swap, "
                                            "drift report, bless")
    demo.add_argument("directory", nargs="?", default=None, metavar="DIR",
                      help="where to create the demo project (default: a temp dir)")
    demo.add_argument("--keep", action="store_true", help="keep the temp project")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.opened = []
    try:
        try:
            return int(args.func(args))
        finally:
            _close(args.opened)
    except IntentusError as exc:
        print(f"intentusnet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader stopped (`| head`): not an error, no traceback
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell tool killed by it


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
