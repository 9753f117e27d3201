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

from .cli_files import (
    cmd_cassettes_list,
    cmd_cassettes_prune,
    cmd_cassettes_sign,
    cmd_cassettes_upgrade,
    cmd_cassettes_verify,
    cmd_golden_export,
    cmd_keys_generate,
    cmd_sign,
    cmd_verify,
)
from .drift import diff_records
from .errors import IntentusError, RecordNotFoundError
from .records import ExecutionRecord
from .replaying import replay
from .serialization import read_file_bytes
from .stores import ExecutionStore, open_store

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
    as_file = path.suffix == ".json" or os.sep in ref  # execution ids hold no separator
    if as_file and os.path.lexists(path):
        # read_file_bytes refuses a FIFO, device or directory (never hangs) in plain words
        return ExecutionRecord.from_json(read_file_bytes(path, what="record file"),
                                         source=str(path), verify=True)
    if as_file:
        raise RecordNotFoundError(
            f"no record file {ref} ({path.absolute()} does not exist); give a record file "
            "or an execution id of the store: intentusnet records list --store PATH")
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



def cmd_recover(args: argparse.Namespace) -> int:
    store = _store(args, create=True)
    recovered = store.recover()
    for record in recovered:
        print(f"interrupted {record.execution_id}: {record.replayable_reason}")
    print(f"{len(recovered)} unfinished executions marked interrupted in {_shown(args.store)}")
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

    cassettes = commands.add_parser("cassettes",
                                    help="list, verify, sign, prune or upgrade cassettes")
    cassettes_sub = cassettes.add_subparsers(dest="cassettes_command", metavar="ACTION")
    cassettes_sub.required = True
    for name, func, text in (("list", cmd_cassettes_list, "list cassettes"),
                             ("verify", cmd_cassettes_verify, "verify every cassette"),
                             ("sign", cmd_cassettes_sign,
                              "sign every cassette for its path and test"),
                             ("prune", cmd_cassettes_prune,
                              "delete cassettes of tests that no longer exist"),
                             ("upgrade", cmd_cassettes_upgrade,
                              "rewrite formatVersion 1 records as the current version")):
        sub = cassettes_sub.add_parser(name, help=text)
        sub.add_argument("--dir", default="cassettes", help="cassette directory")
        if name == "verify":
            sub.add_argument("--pub", help="public key the cassettes must be signed with")
            sub.add_argument("--require-signature", action="store_true")
        if name == "sign":
            sub.add_argument("--key", required=True, help="private key file")
        if name == "prune":
            sub.add_argument("--dry-run", action="store_true")
        if name == "upgrade":
            sub.add_argument("--check", action="store_true",
                             help="write nothing; exit 1 listing the files that would change")
        sub.set_defaults(func=func)

    golden = commands.add_parser("golden", help="golden suites from recorded executions")
    golden_sub = golden.add_subparsers(dest="golden_command", metavar="ACTION")
    golden_sub.required = True
    export = golden_sub.add_parser("export", parents=stored,
                                   help="write the selected executions as a golden-set file")
    export.add_argument("--intent", help="only top-level executions of this intent")
    export.add_argument("--agent", help="only executions answered by this agent")
    export.add_argument("--status", choices=["completed", "interrupted", "success", "error"],
                        help="a record status, or the final response's (success, error)")
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
