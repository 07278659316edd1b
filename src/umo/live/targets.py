"""Where live frames go: ``HOST:PORT`` endpoints for VMC and Live Link, the Live Link subject.

Standard library only: ``umo send``'s and ``umo serve``'s parsers read the defaults here without
loading numpy.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

from umo.errors import UmoError

VMC_PORT = 39539  # the port VMC receivers ("Marionettes": VSeeFace, Warudo, EVMC4U ...) listen on by default
LIVELINK_PORT = 11111  # the port Unreal's Live Link Face source listens on by default
DEFAULT_SUBJECT = "umo"  # the Live Link subject name Unreal lists
MAX_NAME_BYTES = 255  # Unreal reads subject names and device ids of at most 256 characters (with the terminator)


@dataclass(frozen=True)
class Endpoint:
    """A UDP destination. ``host`` is a name or an address (IPv6 without brackets)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def resolve(self) -> tuple[int, tuple]:
        """(address family, socket address) of the destination; UmoError if the host is unknown."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as e:
            raise UmoError(f"cannot resolve the host of {self}: {e}") from None
        family, _, _, _, address = infos[0]
        return family, address


def parse_endpoint(text: str, default_port: int, option: str) -> Endpoint:
    """``HOST:PORT``, ``HOST`` (the default port), ``[IPv6]:PORT`` or ``:PORT`` (this machine) ->
    Endpoint; UmoError naming ``option`` and saying what is wrong."""
    value = text.strip()
    hint = f"expected HOST:PORT, e.g. {option} 127.0.0.1:{default_port}"
    if not value:
        raise UmoError(f"{option}: empty address; {hint}")
    if value.startswith("["):  # [IPv6]:PORT or [IPv6]
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UmoError(f"{option} {text!r}: unbalanced brackets; {hint} or [::1]:{default_port}")
        port_text = rest[1:] if rest else ""
    elif value.count(":") > 1:
        raise UmoError(f"{option} {text!r}: write an IPv6 address in brackets, e.g. [::1]:{default_port}")
    else:
        host, _, port_text = value.partition(":")
        if ":" in value and not port_text:
            raise UmoError(f"{option} {text!r}: the port is missing after ':'; {hint}")
    host = host or "127.0.0.1"
    if not port_text:
        return Endpoint(host, default_port)
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise UmoError(f"{option} {text!r}: the port must be a number from 1 to 65535; {hint}")
    return Endpoint(host, int(port_text))


@dataclass(frozen=True)
class LiveTargets:
    """Where frames are sent live: a VMC receiver, an Unreal Live Link Face source, or both.

    livelink_device_id: the device id in each Live Link packet (Unreal keys its sources by it);
    None gives a fixed id derived from the subject name.
    """

    vmc: Endpoint | None = None
    livelink: Endpoint | None = None
    livelink_subject: str = DEFAULT_SUBJECT
    livelink_device_id: str | None = None

    def __post_init__(self) -> None:
        for what, value in (("the Live Link subject", self.livelink_subject),
                            ("the Live Link device id", self.device_id)):
            if not value or not value.strip():
                raise UmoError(f"{what} must not be empty")
            if len(value.encode("utf-8")) > MAX_NAME_BYTES:
                raise UmoError(f"{what} is longer than {MAX_NAME_BYTES} bytes (Unreal reads at most that many)")

    @classmethod
    def from_options(cls, vmc: str | None, livelink: str | None, subject: str = DEFAULT_SUBJECT) -> LiveTargets:
        """The command line's ``--vmc``, ``--livelink`` and ``--livelink-subject``."""
        return cls(vmc=None if vmc is None else parse_endpoint(vmc, VMC_PORT, "--vmc"),
                   livelink=None if livelink is None else parse_endpoint(livelink, LIVELINK_PORT, "--livelink"),
                   livelink_subject=subject)

    @property
    def device_id(self) -> str:
        if self.livelink_device_id is not None:
            return self.livelink_device_id
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"umo:livelink:{self.livelink_subject}")).upper()

    @property
    def empty(self) -> bool:
        return self.vmc is None and self.livelink is None

    def describe(self) -> str:
        parts = []
        if self.vmc is not None:
            parts.append(f"VMC to {self.vmc}")
        if self.livelink is not None:
            parts.append(f"Live Link Face to {self.livelink} (subject {self.livelink_subject!r})")
        return " and ".join(parts) if parts else "nowhere"
