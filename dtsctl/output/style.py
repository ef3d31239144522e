"""What the user asked for, once per command: the output format, --no-color, --debug; and the
streams (`dtsctl.output.streams`) the command writes to. Rich is imported only when text is drawn."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from dtsctl.output.streams import Streams


class OutputFormat(str, Enum):
    """-o: `text` for people; `json` one document; `jsonl` a document per line; `ids` one id per line
    (list-like commands only: each command declares the formats it takes, see `command(formats=)`)."""

    text = "text"
    json = "json"
    jsonl = "jsonl"
    ids = "ids"

    @property
    def is_machine(self) -> bool:
        """For a program, not a person: no prose, colour, spinners or progress bars on stdout."""
        return self is not OutputFormat.text

    @property
    def is_json(self) -> bool:
        """Records as JSON documents (json or jsonl): they carry everything, payloads included."""
        return self in (OutputFormat.json, OutputFormat.jsonl)

    @property
    def streams_records(self) -> bool:
        """One JSON document per record, each written (and flushed) as soon as it is known."""
        return self is OutputFormat.jsonl


# What -o accepts: every command the record formats, list-like commands `ids` as well.
RECORD_FORMATS = (OutputFormat.text, OutputFormat.json, OutputFormat.jsonl)
LIST_FORMATS = (*RECORD_FORMATS, OutputFormat.ids)


@dataclass
class Style:
    """-o, --no-color, --debug, and the streams (the system's at the time the Style is made)."""

    output: OutputFormat = OutputFormat.text
    no_color: bool = False
    debug: bool = False
    streams: Streams = None  # type: ignore[assignment]  # set in __post_init__

    def __post_init__(self) -> None:
        if self.streams is None:
            self.streams = Streams.system(no_color=self.no_color)
