"""Delivery from the command line, run as a user would (a subprocess), with local HTTP
receivers as channels: `notify test`, a task's `--channel`, the receipts in `tasks history`,
and channel URLs that are never printed whole."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run
from tests.support.webhook_receiver import webhook_receiver

SECRET = "s3cr3t-hook"


def write_config(home: Path, phone: str, *, fallback: str = "") -> None:
    (home / "config.toml").write_text(
        "[notify]\n"
        'channels = ["desktop"]\n'
        f'fallback = "{fallback}"\n'
        "[notify.named]\n"
        f'phone = "{phone}"\n'
    )


def test_notify_test_prints_the_receipt(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        write_config(tmp_path, receiver.url(SECRET))
        sent = run(tmp_path, "notify", "test", "phone")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "phone: sent (1 attempt)"
    assert [m["title"] for m in receiver.accepted] == ["taskagent test"]

    with webhook_receiver(always=500) as broken:
        write_config(tmp_path, broken.url(SECRET))
        failed = run(tmp_path, "notify", "test", "phone")
    assert failed.returncode == 1
    assert failed.stdout.startswith("phone: failed after 1 attempt: ")
    assert "500" in failed.stdout
    assert SECRET not in failed.stdout + failed.stderr
    status = run(tmp_path, "tasks", "status")
    [line] = [line for line in status.stdout.splitlines() if line.startswith("delivery")]
    assert line.startswith("delivery  : desktop · 1 sent, 1 failed in 24 h · last failure phone: ")
    assert SECRET not in status.stdout

    unknown = run(tmp_path, "notify", "test", "tablet")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "taskagent: no channel named 'tablet'; known: desktop, phone"


def test_config_show_masks_channel_urls(tmp_path: Path) -> None:
    write_config(tmp_path, f"json://127.0.0.1:9/{SECRET}", fallback=f"json://127.0.0.1:9/{SECRET}")
    shown = run(tmp_path, "config", "show")
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout
    assert 'phone = "json://127.…"' in shown.stdout


def test_a_task_s_channel_gets_its_notification_and_history_lists_the_receipt(
    tmp_path: Path,
) -> None:
    with webhook_receiver() as receiver:
        write_config(tmp_path, receiver.url(SECRET))
        bad = run(
            tmp_path,
            *("tasks", "add", "self", "--every", "1h", "--tool", "list_background_tasks"),
            *("--channel", "tablet"),
        )
        assert bad.returncode == 1
        assert bad.stderr.strip() == (
            "taskagent: channels: no channel named 'tablet'; known: desktop, phone"
        )
        assert json.loads(run(tmp_path, "tasks", "list", "--json").stdout) == []
        bad_digest = run(
            tmp_path,
            *("tasks", "add", "self", "--every", "1h", "--tool", "list_background_tasks"),
            *("--digest", "sometimes"),
        )
        assert bad_digest.returncode == 1
        assert bad_digest.stderr.startswith("taskagent: digest: 'sometimes' is not a digest period")

        added = run(
            tmp_path,
            *("tasks", "add", "self", "--every", "1h", "--tool", "list_background_tasks"),
            *("--channel", "phone", "--urgent", "--quiet-hours", "22:00-07:00"),
        )
        assert added.returncode == 0, added.stderr
        shown = json.loads(run(tmp_path, "tasks", "show", "self", "--json").stdout)
        assert shown["delivery"] == {
            "channels": ["phone"],
            "urgent": True,
            "quiet_hours": "22:00-07:00",
            "digest": None,
        }

        ran = run(tmp_path, "tasks", "run", "self")
        assert ran.returncode == 0, ran.stderr
        history = json.loads(run(tmp_path, "tasks", "history", "self", "--json").stdout)

    assert [m["title"] for m in receiver.accepted] == ["self"]
    [receipt] = history[0]["deliveries"]
    assert (receipt["channel"], receipt["status"], receipt["attempts"]) == ("phone", "sent", 1)
    assert SECRET not in json.dumps(history)
