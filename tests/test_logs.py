"""Credentials never reach the logs."""

import logging

from occupancy.kit import logs


def test_tokens_in_websocket_handshake_lines_are_redacted(caplog):
    logs.install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]', ("127.0.0.1", 50000), "/ws/city?token=occ_Secret-123&x=1"
        )
    assert "occ_Secret-123" not in caplog.text
    assert '"WebSocket /ws/city?token=[redacted]&x=1" [accepted]' in caplog.text
