"""Every exception the library raises on purpose derives from :class:`IntentusError`.

Agent failures are *not* exceptions: ``route_intent`` turns them into error responses with
a code (see :class:`ErrorCode`). The exceptions below are for misuse, bad files and drift::

    IntentusError
    ├── ConfigurationError (ValueError)     bad argument, unknown strategy, duplicate agent
    │   └── InvalidStrategyError
    ├── PayloadError (ValueError)           payload not JSON-representable, too large
    │   └── RecordTooLargeError             a record or cassette over the size cap
    ├── RecordError
    │   ├── RecordFormatError (ValueError)  malformed record / cassette / signature file
    │   ├── RecordIntegrityError            hashes or hash chain do not match: tampered
    │   ├── RecordNotFoundError (KeyError)  no record with that id in the store
    │   └── NotReplayableError              interrupted or otherwise non-replayable record
    ├── StoreError (OSError)                a store could not read or write
    ├── SecretLeakError                     a live secret would have been written
    ├── SignatureError                      missing, foreign or invalid signature
    └── CassetteError                       (pytest plugin)
        ├── MissingCassetteError            replay mode, cassette file absent
        ├── ReplayMissError                 an execution the cassette does not have
        ├── UnusedRecordingError            recorded executions the test no longer performs
        └── DriftError                      behaviour differs from the cassette

Every message names the thing at fault (file, field, value) and ends with what to do next.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "CassetteError",
    "ConfigurationError",
    "DriftError",
    "ErrorCode",
    "IntentusError",
    "InvalidStrategyError",
    "MissingCassetteError",
    "NotReplayableError",
    "PayloadError",
    "RecordError",
    "RecordFormatError",
    "RecordIntegrityError",
    "RecordNotFoundError",
    "RecordTooLargeError",
    "ReplayMissError",
    "SecretLeakError",
    "SignatureError",
    "StoreError",
    "UnusedRecordingError",
]


class ErrorCode(str, Enum):
    """Codes of the error responses the router produces itself."""

    NO_AGENT = "NO_AGENT"
    UNKNOWN_TARGET = "UNKNOWN_TARGET"
    AGENT_ERROR = "AGENT_ERROR"
    AGENT_TIMEOUT = "AGENT_TIMEOUT"
    INVALID_RESPONSE = "INVALID_RESPONSE"
    POLICY_DENIED = "POLICY_DENIED"


class IntentusError(Exception):
    """Root of every exception raised on purpose by intentusnet_core and the plugin."""


class ConfigurationError(IntentusError, ValueError):
    """An argument or setting is invalid."""


class InvalidStrategyError(ConfigurationError):
    """A routing strategy name that is not one of DIRECT, FALLBACK, BROADCAST, PARALLEL."""


class PayloadError(IntentusError, ValueError):
    """A payload that cannot be recorded: not JSON-representable, or over the size cap."""


class RecordTooLargeError(PayloadError):
    """A record, write-ahead entry or cassette whose serialised text is over the size cap
    (``INTENTUSNET_MAX_RECORD_BYTES``, default 64 MiB); nothing was written."""


class RecordError(IntentusError):
    """Base of the errors about execution records and the files that hold them."""


class RecordFormatError(RecordError, ValueError):
    """A record, cassette or signature file that does not follow the format."""


class RecordIntegrityError(RecordError):
    """A record whose hashes or hash chain do not match its content."""


class RecordNotFoundError(RecordError, KeyError):
    """No record with the requested execution id."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class NotReplayableError(RecordError):
    """The record cannot be replayed (interrupted, or marked non-replayable)."""


class StoreError(IntentusError, OSError):
    """A store failed to read or write."""


class SecretLeakError(IntentusError):
    """Serialised output contained the value of a live secret; nothing was written."""


class SignatureError(IntentusError):
    """A signature is missing, invalid, or made with another key."""


class CassetteError(IntentusError):
    """Base of the pytest plugin's cassette errors."""


class MissingCassetteError(CassetteError):
    """Replay mode found no cassette for the test."""


class ReplayMissError(CassetteError):
    """The test performed an execution that the cassette does not contain."""


class UnusedRecordingError(CassetteError):
    """The cassette holds executions that the test no longer performs."""


class DriftError(CassetteError, AssertionError):
    """Live or replayed behaviour differs from the cassette."""
