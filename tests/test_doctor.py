"""`vcr doctor` reports the environment and runs a real tiny pass with --smoke."""

from typer.testing import CliRunner

from vcr_cli.app import app


def test_doctor_smoke():
    result = CliRunner().invoke(app, ["doctor", "--smoke", "--device", "cpu"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("Python", "torch", "bitsandbytes 4-bit", "video decoding (PyAV)", "MP4 encoder", "model",
                 "smoke test"):
        assert name in result.output
    smoke_line = next(line for line in result.output.splitlines() if "smoke test" in line)
    assert "ok" in smoke_line and "4bit on cpu" in smoke_line


def test_doctor_reports_a_broken_model_dir(tmp_path):
    result = CliRunner().invoke(app, ["doctor", "--model", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "the directory needs config.json" in result.output
