"""``trainspec train --nproc N``: N local processes started by torch's own elastic launcher
(the one behind ``torchrun``), each running ``python -m trainspec train`` without
``--nproc``. The launcher watches them: when one dies, it stops the others and the job ends
with an error."""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid

from trainspec.errors import TrainspecError

__all__ = ["launch_local", "quiet_other_ranks", "this_rank"]


class LaunchError(TrainspecError):
    """A process of a data-parallel job failed; ``exit_code`` is the job's exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def this_rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def quiet_other_ranks(verbose: bool) -> None:
    """Ranks other than 0 print nothing but errors (rank 0 reports for all of them)."""
    if this_rank() != 0 and not verbose:
        logging.getLogger("trainspec").setLevel(logging.ERROR)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_local(nproc: int, argv: list[str]) -> None:
    """Run ``python -m trainspec ARGV`` in ``nproc`` processes on this machine; returns when
    all finished, raises ``LaunchError`` (with the failed rank's exit status) otherwise."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # As torchrun does: N processes on the cores of one machine share them.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=uuid.uuid4().hex,
        rdzv_backend="c10d",
        rdzv_endpoint=f"127.0.0.1:{_free_port()}",
        max_restarts=0,
        monitor_interval=0.1,
        logs_specs=DefaultLogsSpecs(),
    )
    # The agent's own warnings ("Sending process N closing signal") say nothing the message
    # below does not.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.ERROR)
    try:
        elastic_launch(config, sys.executable)("-m", "trainspec", *argv)
    except SignalException as exc:
        # Ctrl-C or SIGTERM: the agent passed it on; the processes agreed on a step and rank 0
        # saved a checkpoint there.
        raise LaunchError(
            f"interrupted by signal {exc.sigval}: continue with --run-dir DIR --resume",
            exit_code=130,
        ) from None
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        code = failure.exitcode
        how = f"was killed by {failure.signal_name()}" if code < 0 else f"exited with {code}"
        raise LaunchError(
            f"process {rank} of {nproc} {how}, so the job was stopped; the run directory keeps "
            "its last checkpoint: continue with --run-dir DIR --resume",
            exit_code=code if code > 0 else 1,
        ) from None
