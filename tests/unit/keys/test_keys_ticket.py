"""The edge's ticket to the container's Durable Object: who pays, carried in one header."""

import pytest

from keys.ticket import Ticket


def test_a_ticket_survives_its_header_and_stays_ascii() -> None:
    ticket = Ticket("a" * 64, "lease-1", "modèle/😀\r\nx: y", added_usage=True)
    value = ticket.header_value()
    assert value.isascii() and "\r" not in value and "\n" not in value
    assert Ticket.from_header(value) == ticket
    master = Ticket(None, None, None)
    assert Ticket.from_header(master.header_value()) == master


@pytest.mark.parametrize("value", [None, "", "{", "[]", '{"token": 5}', '{"model": ["x"]}', "null"])
def test_a_malformed_ticket_books_nothing(value: str | None) -> None:
    assert Ticket.from_header(value) is None
