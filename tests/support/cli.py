"""Run the installed `facetag` command as a user would: a subprocess with a clean environment."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from storage.settings import Settings

FACETAG = Path(sys.executable).parent / "facetag"


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def one_line_error(self, *, naming: str) -> str:
        """Failed, with exactly one line on stderr that names `naming`, and no traceback."""
        assert self.code != 0, f"expected a failure:\n{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        assert len(self.stderr_lines) == 1, f"expected one line on stderr, got:\n{self.stderr}"
        line = self.stderr_lines[0]
        assert naming in line
        return line


def clean_environment(**values: str) -> dict[str, str]:
    """The test machine's environment without any facetag setting, plus `values`."""
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    env = {key: value for key, value in os.environ.items() if key not in aliases}
    env.update(values)
    return env


async def facetag(*args: str, cwd: Path, env: Mapping[str, str] | None = None, within: float = 120) -> Result:
    """Run .venv/bin/facetag in `cwd` (no `.env` there) with only the given settings."""
    process = await asyncio.create_subprocess_exec(
        str(FACETAG),
        *args,
        cwd=cwd,
        env=clean_environment(FACETAG_DATA_DIR=str(cwd / "data"), **(env or {})),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())
