"""A llama.cpp rpc-server on 127.0.0.1 for the loopback test and benchmark: the `rpc-server` binary when
PASO_LOCAL_RPC_SERVER names one (or it is on PATH), else the same server started through the RPC build's own
library (ggml_backend_rpc_start_server, what rpc-server's main calls), on the CPU device.

    python tests/rpc_server.py PORT        (runs until killed)
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.llm.rpc import Endpoint, check_servers

SERVER_ENV = "PASO_LOCAL_RPC_SERVER"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_loopback_server(
    port: int | None = None, *, timeout: float = 30.0
) -> tuple[subprocess.Popen, Endpoint]:
    """Start a server and wait until it answers HELLO; the caller stops it (terminate)."""
    port = port or free_port()
    binary = os.environ.get(SERVER_ENV) or shutil.which("rpc-server")
    if binary:
        command = [binary, "-H", "127.0.0.1", "-p", str(port)]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = Endpoint("127.0.0.1", port)
    deadline = time.monotonic() + timeout
    while True:
        try:
            check_servers((endpoint,), timeout=2.0)
            return server, endpoint
        except PasoError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)


def serve(port: int) -> None:
    from paso_local.llm.llama_native import ggml_library, rpc_function

    pointer = ctypes.c_void_p
    start = rpc_function(
        "ggml_backend_rpc_start_server",
        ctypes.CFUNCTYPE(
            None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(pointer)
        ),
    )
    libggml = ggml_library()
    libggml.ggml_backend_dev_by_type.restype = pointer
    libggml.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
    devices = (pointer * 1)(libggml.ggml_backend_dev_by_type(0))  # GGML_BACKEND_DEVICE_TYPE_CPU
    start(f"127.0.0.1:{port}".encode(), None, 1, 1, devices)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
