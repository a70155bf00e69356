"""Settings that cannot fit are refused before loading, with numbers and a fix."""

import pytest

from vcr_cli.errors import UsageError
from vcr_cli.memory import check_fits, estimate_gb


def test_7b_4bit_with_the_training_budget_fits_a_12gb_card():
    assert estimate_gb("4bit", 3584) == pytest.approx(6.9 + 0.8 + 3584 * 0.25 / 1024)
    check_fits("4bit", 3584, free_gb=11.5, total_gb=12.0)


def test_unquantized_on_a_12gb_card_is_refused_with_a_fix():
    with pytest.raises(UsageError) as err:
        check_fits("none", 3584, free_gb=11.0, total_gb=12.0)
    message = str(err.value)
    assert "needs about 18.3 GB" in message and "11.0 of 12.0 GB is free" in message
    assert "--quant 4bit (~8.6 GB)" in message


def test_many_visual_tokens_are_refused():
    with pytest.raises(UsageError, match="--max-pixels / --max-frames"):
        check_fits("4bit", 60_000, free_gb=20.0, total_gb=24.0)


def test_samples_decoded_together_count_in_the_estimate():
    """16 draws hold 16 copies of the prompt's KV cache: a card that fits one answer may not fit them."""
    one = estimate_gb("4bit", 3584)
    assert estimate_gb("4bit", 3584, rows=16) == pytest.approx(one + 15 * 3584 * 0.15 / 1024)
    check_fits("4bit", 3584, free_gb=11.5, total_gb=12.0, rows=1)
    with pytest.raises(UsageError) as err:
        check_fits("4bit", 3584, free_gb=11.5, total_gb=12.0, rows=16)
    message = str(err.value)
    assert "3584 visual tokens x 16 rows" in message and f"one row: ~{one:.1f} GB" in message
