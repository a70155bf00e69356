"""The suite's network guard works: a test that reached beyond loopback would fail."""

import socket

import pytest


def test_outside_hosts_are_refused():
    with pytest.raises(AssertionError, match="resolve 'huggingface.co'"):
        socket.create_connection(("huggingface.co", 443), timeout=1)
    with pytest.raises(AssertionError, match="reach the network"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("93.184.216.34", 80))


def test_doctor_does_not_probe_the_hub_offline(monkeypatch):
    from vcr_cli.checks import check_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check = check_model("OpenGVLab/VideoChat-R1_7B")  # would raise through the guard if it dialled out
    assert not check.ok and "HF_HUB_OFFLINE is set" in check.detail
