"""llama.cpp's RPC backend: the addresses of the `rpc-server`s a model is split over, and a check that each one
answers before llama.cpp is given it.

Why the check: llama.cpp's RPC client ends the whole process (GGML_ABORT) when a server cannot be reached, or
answers with another protocol version. So every address is first dialled here, with llama.cpp's own HELLO
message (a command byte 14, an 8-byte little-endian size, 24 bytes of transport capabilities; the answer is an
8-byte size then major, minor, patch, padding and 24 capability bytes), and only a server that answers with a
protocol this llama.cpp speaks is registered (paso_local.llm.llama_native.register_rpc_servers).

paso-local never opens a port: it only connects to servers the person started.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from paso_local.errors import PasoError
from paso_local.store.config import config_path, string_list

RPC_CONFIG_KEY = "rpc_servers"
HELLO_COMMAND = 14
CAPS_SIZE = 24
HELLO_REPLY_SIZE = 4 + CAPS_SIZE
# The RPC protocol major version of the llama.cpp inside llama-cpp-python 0.3.36 (ggml-rpc.h); a server with
# another major version, or a newer minor one, is refused by that client, so it is refused here first.
PROTOCOL_MAJOR = 7
PROTOCOL_MINOR = 0
CONNECT_TIMEOUT_S = 5.0
BUILD_HINT = (
    'reinstall llama-cpp-python with RPC: CMAKE_ARGS="-DGGML_RPC=on" pip install --force-reinstall '
    "--no-cache-dir llama-cpp-python (see docs/rpc.md)"
)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(text: str, *, where: str = "--rpc") -> Endpoint:
    """HOST:PORT (llama.cpp splits at the last colon, so an IPv6 host is written without brackets)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise PasoError(
            f"{where}: {text!r} is not HOST:PORT (e.g. 192.168.1.20:50052, the address `rpc-server` "
            "printed when it started)"
        )
    return Endpoint(host, int(port_text))


def parse_servers(text: str, *, where: str = "--rpc") -> tuple[Endpoint, ...]:
    """A comma-separated list of HOST:PORT, each once, in the order given (that is the split order)."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise PasoError(f"{where}: no address given; write HOST:PORT[,HOST:PORT...]")
    servers = tuple(parse_endpoint(part, where=where) for part in parts)
    if len(set(servers)) != len(servers):
        raise PasoError(f"{where}: {text!r} names a server twice; give each rpc-server once")
    return servers


def chosen_servers(cli_value: str | None) -> tuple[Endpoint, ...]:
    """--rpc when given (an empty --rpc "" turns RPC off), else config.json's "rpc_servers", else none."""
    if cli_value is not None:
        return parse_servers(cli_value) if cli_value.strip() else ()
    configured = string_list(RPC_CONFIG_KEY)
    where = f'{config_path()} "{RPC_CONFIG_KEY}"'
    return parse_servers(",".join(configured), where=where) if configured else ()


def hello(endpoint: Endpoint, *, timeout: float = CONNECT_TIMEOUT_S) -> tuple[int, int, int]:
    """Dial one server and return its protocol version (major, minor, patch); a clear error otherwise."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock:
            sock.sendall(struct.pack("<BQ", HELLO_COMMAND, CAPS_SIZE) + bytes(CAPS_SIZE))
            size = struct.unpack("<Q", _receive(sock, 8, endpoint))[0]
            if size != HELLO_REPLY_SIZE:
                raise _incompatible(endpoint, f"its HELLO answer is {size} bytes, not {HELLO_REPLY_SIZE}")
            major, minor, patch = _receive(sock, size, endpoint)[:3]
    except TimeoutError:
        raise PasoError(_unreachable(endpoint, f"no answer within {timeout:g} s")) from None
    except OSError as exc:
        raise PasoError(_unreachable(endpoint, exc.strerror or str(exc))) from None
    return major, minor, patch


def check_servers(servers: tuple[Endpoint, ...], *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Every server answers and speaks this llama.cpp's protocol; else a PasoError naming the first that
    does not."""
    for endpoint in servers:
        major, minor, patch = hello(endpoint, timeout=timeout)
        if major != PROTOCOL_MAJOR or minor > PROTOCOL_MINOR:
            raise PasoError(
                f"the rpc-server at {endpoint} speaks RPC protocol {major}.{minor}.{patch}, and this "
                f"llama-cpp-python speaks {PROTOCOL_MAJOR}.{PROTOCOL_MINOR}: build rpc-server from the same "
                "llama.cpp as llama-cpp-python (its vendor/llama.cpp), or upgrade both"
            )


def check_usable(servers: tuple[Endpoint, ...]) -> None:
    """This llama-cpp-python has RPC and every server answers in its protocol; else a PasoError."""
    from paso_local.llm.llama_native import rpc_supported

    if not rpc_supported():
        raise PasoError(
            f"--rpc needs llama.cpp's RPC backend, which this llama-cpp-python lacks: {BUILD_HINT}"
        )
    check_servers(servers)


def use_servers(servers: tuple[Endpoint, ...] | list[Endpoint]) -> None:
    """Check the servers (check_usable), then hand them to llama.cpp: the next model loaded is split over
    them."""
    from paso_local.llm.llama_native import explain_aborts, register_rpc_servers

    check_usable(tuple(servers))
    names = ", ".join(str(server) for server in servers)
    explain_aborts(
        f"paso-local was using the rpc-servers {names}: if one stopped or its network dropped, start it again "
        "and run the command again."
    )
    register_rpc_servers([str(server) for server in servers])


def _receive(sock: socket.socket, size: int, endpoint: Endpoint) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise _incompatible(endpoint, "it closed the connection on llama.cpp's HELLO")
        data += chunk
    return data


def _unreachable(endpoint: Endpoint, why: str) -> str:
    return (
        f"cannot reach the rpc-server at {endpoint} ({why}). Is `rpc-server -H <address> -p {endpoint.port}` "
        'running there, and is the address right? (--rpc, or "rpc_servers" in config.json)'
    )


def _incompatible(endpoint: Endpoint, why: str) -> PasoError:
    return PasoError(
        f"{endpoint} answers, but not as a compatible llama.cpp rpc-server ({why}): is it an rpc-server "
        "built from the same llama.cpp as llama-cpp-python?"
    )
