"""A fast check of ``--ray-address`` that needs neither Ray nor torch, so the CLI can run it before
anything heavy is imported (an unreachable cluster otherwise hangs in Ray's own retries)."""

from __future__ import annotations


def check_ray_address(address: str, timeout_s: float = 3.0) -> None:
    """Check that ``HOST:PORT`` (default port 6379; ``ray://HOST:PORT`` too) accepts a TCP
    connection within ``timeout_s`` seconds before Ray is handed the address, so that an
    unreachable cluster fails at once instead of after Ray's own retries. Only the given address
    is contacted; ``auto`` and ``local`` are not checked.

    Raises:
        ValueError: nothing answers there; the message names the address and how to start a head
            node (``ray start --head --port=PORT``).
    """
    import socket

    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port_text = hostport.rpartition(":")
    if not host or not port_text.isdigit():
        host, port_text = hostport, "6379"
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ValueError(
            f"invalid ray_address={address!r} (--ray-address): no Ray cluster at {address} ({exc}); start one "
            f"on that machine with: ray start --head --port={port_text}, or leave out --ray-address to start "
            "a local Ray instance") from None
