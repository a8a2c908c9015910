"""Integration tests: ``python -m simulator`` as a process (ready line, ready file, clean stop)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYS_CLIENT_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_cli_without_credentials_exits_2_with_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator"],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET" in done.stderr


def test_cli_serves_until_sigterm_and_never_logs_secrets(tmp_path: Path) -> None:
    ready = tmp_path / "ready.txt"
    env = _env(GENESYS_CLIENT_ID="cli-id", GENESYS_CLIENT_SECRET="cli-secret-value")
    args = [sys.executable, "-m", "simulator", "--port", "0", "--agents", "10",
            "--conversations-per-hour", "60", "--ready-file", str(ready)]  # fmt: skip
    process = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline().strip() if process.stdout else ""
        url = line.removeprefix("SIMULATOR_URL=")
        token = requests.post(
            f"{url}/oauth/token",
            auth=("cli-id", "cli-secret-value"),
            data={"grant_type": "client_credentials"},
            timeout=5,
        ).json()["access_token"]
        users = requests.get(
            f"{url}/api/v2/users", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)

    assert line.startswith("SIMULATOR_URL=http://127.0.0.1:")
    assert ready.read_text(encoding="utf-8").strip() == url
    assert users.status_code == 200
    assert process.returncode == 0
    assert out == ""
    assert "GET /api/v2/users -> 200" in err
    assert "cli-secret-value" not in err
    assert token not in err
