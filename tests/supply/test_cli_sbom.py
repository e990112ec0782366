"""`sbom generate` through Typer's CliRunner on the sub-app."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from harbourmaster.cli.sbom import app
from harbourmaster.supply.sbom import SbomFormat, validate_sbom
from tests.supply._images import compress, file, tar_bytes
from tests.supply._layouts import add_image, write_index

runner = CliRunner()
STATUS = "Package: bash\nStatus: install ok installed\nVersion: 5.2\nArchitecture: amd64\n\n"


def layout(tmp_path: Path) -> Path:
    root = tmp_path / "layout"
    blob = compress(
        tar_bytes(
            [file("var/lib/dpkg/status", STATUS), file("etc/os-release", "ID=debian\nVERSION_ID=12\n")]
        ),
        "gzip",
    )
    write_index(root, [add_image(root, [blob])], ["v1"])
    return root


def test_generate_to_a_file_with_a_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "sbom.spdx.json"
    result = runner.invoke(
        app,
        ["generate", f"oci-layout:{layout(tmp_path)}:v1", "--format", "spdx-json", "-o", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["packages"] == 1 and summary["distro"]["id"] == "debian"
    validate_sbom(out.read_text(), SbomFormat.SPDX_JSON)
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left behind
    assert oct(out.stat().st_mode & 0o777) != "0o600"


def test_generate_to_stdout_defaults_to_cyclonedx(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", f"oci-layout:{layout(tmp_path)}"])
    assert result.exit_code == 0, result.output
    validate_sbom(result.stdout, SbomFormat.CYCLONEDX_JSON)
    assert "1 packages" in result.stderr


def test_bad_sources_exit_2_with_the_reason(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "docker://example.com/app:1"])
    assert result.exit_code == 2
    assert "not an image source" in result.stderr
    result = runner.invoke(app, ["generate", f"oci-layout:{layout(tmp_path)}:nope"])
    assert result.exit_code == 2 and "no image tagged 'nope'" in result.stderr


def test_a_bomb_limit_from_the_command_line(tmp_path: Path) -> None:
    root = tmp_path / "bomb"
    write_index(
        root,
        [add_image(root, [compress(tar_bytes([file("zeros", bytes(40 * 1024 * 1024))]), "gzip")])],
        [None],
    )
    out = tmp_path / "never.json"
    result = runner.invoke(app, ["generate", f"oci-layout:{root}", "--max-layer-mib", "8", "-o", str(out)])
    assert result.exit_code == 2
    assert "possible decompression bomb" in result.stderr
    assert not out.exists() and os.listdir(tmp_path) == ["bomb"]


def test_unknown_format_is_rejected(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", f"oci-layout:{layout(tmp_path)}", "--format", "xml"])
    assert result.exit_code == 2


def test_layer_bars_track_each_layer_on_a_terminal() -> None:
    import io as _io

    from rich.console import Console
    from rich.progress import Progress

    from harbourmaster.cli._progress import LayerBars
    from harbourmaster.supply.sbom import LayerDescriptor

    console = Console(file=_io.StringIO(), force_terminal=True, width=100)
    with Progress(console=console) as progress:
        bars = LayerBars(progress)
        layers = [
            LayerDescriptor(digest="sha256:" + "a" * 64, size=100),
            LayerDescriptor(digest="sha256:" + "b" * 64, size=-1),
        ]
        for i, layer in enumerate(layers):
            bars.start_layer(i, layer)
            bars.advance(i, 60)
            bars.advance(i, 40)
            bars.finish_layer(i)
        tasks = progress.tasks
    assert [t.completed for t in tasks] == [100, 100]
    assert all(t.finished for t in tasks)
    assert "aaaaaaaaaaaa" in tasks[0].description


def test_help_renders() -> None:
    result = runner.invoke(app, ["generate", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--format", "--output", "--platform", "--max-ratio", "--max-layer-mib", "--json"):
        assert option in result.stdout
    assert "OS/ARCH[/VARIANT]" in result.stdout


def test_a_local_sbom_is_stored_when_the_data_directory_is_initialised(tmp_path: Path) -> None:
    from harbourmaster.services.core import Harbourmaster
    from harbourmaster.services.sboms import list_sboms

    source = f"oci-layout:{layout(tmp_path)}:v1"
    out = tmp_path / "a.json"
    result = runner.invoke(app, ["generate", source, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "not stored (no data directory" in result.stderr
    assert not (Path(os.environ["HARBOURMASTER_HOME"]) / "harbourmaster.db").exists()

    hm = Harbourmaster.from_environ()
    hm.init()
    result = runner.invoke(app, ["generate", source, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.rstrip().endswith("; stored")
    (stored,) = list_sboms(hm)
    assert stored.component_count == 1 and stored.distro == "debian-12" and stored.origin == "generated"
    assert runner.invoke(app, ["generate", source, "-o", str(out), "--no-store"]).exit_code == 0
    assert len(list_sboms(hm)) == 1


def test_progress_is_quiet_off_a_terminal_and_with_json() -> None:
    from harbourmaster.cli._progress import layer_progress, record_progress

    # CliRunner and pytest capture standard error: it is not a terminal here.
    with layer_progress(False) as bars:
        assert bars is None
    with record_progress(True, "importing") as counter:
        counter(5)  # a no-op counter: callable, shows nothing
    with layer_progress(True) as bars:
        assert bars is None
