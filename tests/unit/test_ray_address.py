"""The TCP check of ``--ray-address`` done before Ray is handed the address (127.0.0.1 only)."""

import socket
import time

import pytest

from apexrl.ray_address import check_ray_address


def test_a_listening_port_passes_in_every_address_form():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        check_ray_address(f"127.0.0.1:{port}")
        check_ray_address(f"ray://127.0.0.1:{port}")
    check_ray_address("auto")  # Ray's own lookups: not checked here
    check_ray_address("local")


def test_a_closed_port_fails_at_once_with_the_command_to_start_a_head_node():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ValueError) as exc:
        check_ray_address(f"127.0.0.1:{port}")
    assert time.monotonic() - start < 3.5
    assert f"no Ray cluster at 127.0.0.1:{port}" in str(exc.value)
    assert f"ray start --head --port={port}" in str(exc.value) and "(--ray-address)" in str(exc.value)
