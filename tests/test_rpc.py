"""llama.cpp RPC: addresses, the HELLO check against fake servers, the chat's model in a child process (a
crash mid-reply is a message, the next message starts it again), and errors from the commands."""

from __future__ import annotations

import json
import socket
import struct
import threading

import pytest

from paso_local.errors import PasoError
from paso_local.llm.rpc import (
    CAPS_SIZE,
    HELLO_COMMAND,
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    Endpoint,
    check_servers,
    chosen_servers,
    parse_endpoint,
    parse_servers,
)
from paso_local.llm.steering import UNSTEERED
from paso_local.store.paths import config_dir
from paso_local.tui.chat.backend import RuntimeOptions
from paso_local.tui.chat.process_backend import ProcessBackend


def test_addresses_are_parsed_in_order_and_bad_ones_are_named():
    assert parse_servers("10.0.0.2:50052, gpu-box:50053") == (
        Endpoint("10.0.0.2", 50052),
        Endpoint("gpu-box", 50053),
    )
    assert parse_endpoint("::1:50052") == Endpoint("::1", 50052)  # llama.cpp splits at the last colon
    for bad in ("10.0.0.2", ":50052", "host:0", "host:70000", "host:port"):
        with pytest.raises(PasoError, match=f"{bad!r} is not HOST:PORT"):
            parse_servers(bad)
    with pytest.raises(PasoError, match="twice"):
        parse_servers("a:1,a:1")
    with pytest.raises(PasoError, match="no address"):
        parse_servers(" , ")


def test_config_json_gives_the_servers_and_rpc_flag_overrides_it():
    assert chosen_servers(None) == ()
    config_dir().mkdir(parents=True)
    (config_dir() / "config.json").write_text(json.dumps({"rpc_servers": ["10.0.0.2:50052"]}))
    assert chosen_servers(None) == (Endpoint("10.0.0.2", 50052),)
    assert chosen_servers("10.0.0.3:1") == (Endpoint("10.0.0.3", 1),)
    assert chosen_servers("") == ()  # --rpc "" turns the configured servers off
    (config_dir() / "config.json").write_text(json.dumps({"rpc_servers": ["nohost"]}))
    with pytest.raises(PasoError, match="config.json \"rpc_servers\": 'nohost' is not HOST:PORT"):
        chosen_servers(None)
    (config_dir() / "config.json").write_text(json.dumps({"rpc_servers": "10.0.0.2:50052"}))
    with pytest.raises(PasoError, match='"rpc_servers" must be a list of strings'):
        chosen_servers(None)


class FakeServer:
    """One-connection-at-a-time TCP server answering llama.cpp's HELLO with `version` (None: hang up)."""

    def __init__(self, version):
        self.version = version
        self.received: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = Endpoint("127.0.0.1", self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        connection, _ = self.listener.accept()
        with connection:
            data = b""
            while len(data) < 1 + 8 + CAPS_SIZE:
                data += connection.recv(64)
            self.received.append(data)
            if self.version is not None:
                connection.sendall(
                    struct.pack("<Q", 4 + CAPS_SIZE) + bytes([*self.version, 0]) + bytes(CAPS_SIZE)
                )

    def close(self):
        self.listener.close()


def test_a_server_speaking_our_protocol_passes_and_gets_llama_cpps_exact_hello():
    server = FakeServer((PROTOCOL_MAJOR, PROTOCOL_MINOR, 3))
    check_servers((server.endpoint,))
    assert server.received == [struct.pack("<BQ", HELLO_COMMAND, CAPS_SIZE) + bytes(CAPS_SIZE)]
    server.close()


@pytest.mark.parametrize(
    "version",
    [(PROTOCOL_MAJOR - 1, 0, 0), (PROTOCOL_MAJOR + 1, 0, 0), (PROTOCOL_MAJOR, PROTOCOL_MINOR + 1, 0)],
)
def test_a_version_mismatch_is_named_before_llama_cpp_would_abort(version):
    server = FakeServer(version)
    with pytest.raises(
        PasoError, match=rf"at {server.endpoint} speaks RPC protocol {version[0]}\.{version[1]}"
    ):
        check_servers((server.endpoint,))
    server.close()


def test_a_server_that_hangs_up_on_hello_is_not_an_rpc_server():
    server = FakeServer(None)
    with pytest.raises(PasoError, match="not as a compatible llama.cpp rpc-server"):
        check_servers((server.endpoint,))
    server.close()


def test_an_unreachable_address_is_named():
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(PasoError, match=f"cannot reach the rpc-server at 127.0.0.1:{port}"):
        check_servers((Endpoint("127.0.0.1", port),))


def scripted_backend() -> ProcessBackend:
    from process_fakes import ScriptedBackend

    return ProcessBackend(
        RuntimeOptions(model="scripted.gguf", rpc_servers=("127.0.0.1:9",)), ScriptedBackend
    )


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_the_child_process_streams_replies_counts_and_reports_errors():
    backend = scripted_backend()
    try:
        info = backend.load()
        assert info.model_name == "scripted.gguf"
        reply = backend.generate(user("hi"), UNSTEERED, threading.Event())
        assert list(reply) == ["one ", "two ", "three"]
        assert reply.stats.finish_reason == "stop"
        assert backend.count_tokens(user("a b c")) == 3
        with pytest.raises(PasoError, match="the scripted model refuses"):
            list(backend.generate(user("refuse"), UNSTEERED, threading.Event()))
        assert list(backend.generate(user("hi"), UNSTEERED, threading.Event())) == ["one ", "two ", "three"]
    finally:
        backend.close()


def test_a_crash_mid_reply_is_explained_and_the_next_message_starts_the_model_again():
    backend = scripted_backend()
    try:
        backend.load()
        pieces = []
        with pytest.raises(PasoError) as failure:
            for piece in backend.generate(user("crash"), UNSTEERED, threading.Event()):
                pieces.append(piece)
        assert pieces == ["one "]  # what was written before the crash reached the chat
        message = str(failure.value)
        assert "Remote RPC server crashed" in message and "127.0.0.1:9" in message
        assert "conversation is kept" in message
        assert list(backend.generate(user("hi"), UNSTEERED, threading.Event())) == ["one ", "two ", "three"]
        assert backend.restarts == 1
    finally:
        backend.close()


def test_stop_reaches_the_child():
    backend = scripted_backend()
    stop = threading.Event()
    try:
        backend.load()
        pieces = []
        for piece in backend.generate(user("slow"), UNSTEERED, stop):
            pieces.append(piece)
            if len(pieces) == 3:
                stop.set()
        assert 3 <= len(pieces) < 20
        assert list(backend.generate(user("hi"), UNSTEERED, threading.Event())) == ["one ", "two ", "three"]
    finally:
        backend.close()


def run_cli(*args: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "paso_local", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("command", [["ask", "hi"], ["chat"], ["eval", "--methods", "base"]])
def test_a_bad_rpc_address_is_a_plain_error_on_every_command(command, papi_dev):
    extra = ["--subjects", str(papi_dev)] if command[0] == "eval" else []
    result = run_cli(*command, *extra, "--rpc", "gpu-box")
    assert result.returncode == 1
    assert "--rpc: 'gpu-box' is not HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.model
def test_without_an_rpc_build_the_error_says_how_to_build_one():
    from paso_local.llm.llama_native import rpc_supported

    if rpc_supported():
        pytest.skip("this llama-cpp-python has RPC: the loopback test covers it")
    result = run_cli("ask", "hi", "--rpc", "127.0.0.1:50052", "--n-ctx", "512")
    assert result.returncode == 1
    assert "-DGGML_RPC=on" in result.stderr and "Traceback" not in result.stderr


def test_an_abort_inside_llama_cpp_ends_with_a_plain_error_line():
    """Over RPC llama.cpp ends the process when a server drops (GGML_ABORT); its last words say what to do."""
    import subprocess
    import sys

    script = (
        "from paso_local.llm.llama_native import explain_aborts\n"
        "explain_aborts('Start the rpc-server again.')\n"
        "from paso_local.llm.llama_native import ggml_library\n"
        "ggml_library().ggml_abort(b'ggml-rpc.cpp', 35, b'Remote RPC server crashed or returned malformed response')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert (
        "Error: llama.cpp stopped: ggml-rpc.cpp:35: Remote RPC server crashed or returned malformed response\n"
        "Start the rpc-server again." in result.stderr
    )


async def test_the_chat_survives_its_model_process_crashing_and_keeps_the_conversation():
    from test_chat_app import SIZE, send, views, wait_for

    from paso_local.tui.chat.app import ChatApp

    backend = scripted_backend()
    app = ChatApp(backend)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.chat.info is not None, rounds=1500)
            await send(pilot, app, "hi")
            await wait_for(pilot, lambda: len(views(app)) == 2 and app.chat.job is None, rounds=1500)
            await send(pilot, app, "crash")
            await wait_for(
                pilot,
                lambda: any("Remote RPC server crashed" in n.message for n in app._notifications),
                rounds=1500,
            )
            await wait_for(pilot, lambda: app.chat.job is None, rounds=1500)
            assert [v[2] for v in views(app)] == ["hi", "one two three"]  # the conversation is kept
            assert app.is_running
            app.chat.prompt.value = "again"
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(views(app)) == 4 and app.chat.job is None, rounds=1500)
            assert views(app)[-1][2] == "one two three"  # the next message started the model again
            assert backend.restarts == 1
    finally:
        app.stop_and_wait()
        backend.close()


@pytest.mark.model
def test_the_model_in_a_child_process_writes_the_same_reply_as_in_process(smollm2_path):
    from paso_local.tui.chat.backend import RuntimeBackend

    options = RuntimeOptions(model=str(smollm2_path), n_ctx=512, threads=1, max_tokens=24)
    local = RuntimeBackend(options)
    child = ProcessBackend(options)
    try:
        assert child.load().model_name == local.load().model_name
        question = user("Name three colours.")
        here = list(local.generate(question, UNSTEERED, threading.Event()))
        there = list(child.generate(question, UNSTEERED, threading.Event()))
        assert "".join(there) == "".join(here) and len(here) > 3
        assert child.count_tokens(question) == local.count_tokens(question)
    finally:
        local.close()
        child.close()
