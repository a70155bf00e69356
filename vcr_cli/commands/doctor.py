"""`vcr doctor`: check the environment (and optionally run a tiny end-to-end pass)."""

from __future__ import annotations

from typing import Annotated

import typer

from vcr_cli.options import Device, DeviceOpt, FamilyOpt, ModelOpt, Quant, QuantOpt

SMOKE_HELP = ("Also build a tiny random checkpoint in a temp dir and run a grounding pass on a generated clip "
              "(checks the install without downloading 16 GB).")


def doctor(
    model: ModelOpt = None,
    family: FamilyOpt = None,
    smoke: Annotated[bool, typer.Option("--smoke", help=SMOKE_HELP)] = False,
    quant: QuantOpt = Quant.four_bit,
    device: DeviceOpt = Device.auto,
) -> None:
    """Check Python, torch/CUDA, GPU memory, bitsandbytes 4-bit, video decoders, the MP4 encoder, the model cache
    and the model's family (which tasks it can do).

    Example: vcr doctor --smoke
    """
    from rich.table import Table

    from vcr_cli.checkpoints import resolve_model_id
    from vcr_cli.checks import Check, run_checks, smoke_test
    from vcr_cli.console import handle_errors, quiet_libraries, stdout

    with handle_errors():
        quiet_libraries()
        checks = run_checks(resolve_model_id(model), family)
        if smoke:
            try:
                checks.append(smoke_test(device=device.value, quant=quant.value))
            except Exception as exc:  # the point of a smoke test is to report, not to crash
                checks.append(Check("smoke test", False, f"{type(exc).__name__}: {str(exc)[:160]}",
                                    "run `vcr --verbose doctor --smoke` and report the traceback"))
        if not stdout.is_terminal:  # piped: one whole line per check (grep-able; the fix is never cut)
            for check in checks:
                mark = "ok" if check.ok else ("FAIL" if check.required else "warn")
                fix = f"  fix: {check.fix}" if check.fix and not check.ok else ""
                stdout.print(f"{mark:<4}  {check.name}: {check.detail}{fix}", markup=False, soft_wrap=True)
            if any(c.required and not c.ok for c in checks):
                raise typer.Exit(1)
            return
        table = Table(title="vcr doctor", show_lines=False)
        table.add_column("check")
        table.add_column("status")
        table.add_column("detail")
        table.add_column("fix")
        for check in checks:
            mark = "[green]ok[/]" if check.ok else ("[red]FAIL[/]" if check.required else "[yellow]warn[/]")
            table.add_row(check.name, mark, check.detail, check.fix)
        stdout.print(table)
        failed = [c for c in checks if c.required and not c.ok]
        if failed:
            raise typer.Exit(1)
