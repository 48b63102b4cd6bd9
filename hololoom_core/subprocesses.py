"""Running an external program from the event loop: no stdin, a time limit, killed when cancelled."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path


class ProgramError(Exception):
    """The program could not start (`timed_out` False) or ran past its time limit (`timed_out` True)."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True, slots=True)
class ProgramResult:
    """What a finished program returned and printed (stderr is empty when merged into stdout)."""

    returncode: int
    stdout: bytes
    stderr: bytes


async def run_program(
    argv: list[str], timeout_s: float, *, cwd: Path | None = None, merge_stderr: bool = False
) -> ProgramResult:
    """Run `argv` without a shell; kill it on timeout or when the caller is cancelled (nothing left running)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(cwd) if cwd is not None else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise ProgramError(f"could not start ({exc.strerror or exc})", timed_out=False)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ProgramError(f"took longer than {timeout_s:g} s and was stopped", timed_out=True)
    except asyncio.CancelledError:
        process.kill()  # the engine is stopping: do not leave the program running unsupervised
        raise
    return ProgramResult(process.returncode or 0, stdout or b"", stderr or b"")
