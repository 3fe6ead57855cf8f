"""metering.charge: what one finished request books, whoever books it (the one pure step of every booking)."""

from hypothesis import given
from hypothesis import strategies as st

from metering.charge import MAX_MODEL_NAME, Charge, Outcome, charge_for, needs_prices, served_model
from metering.pricing import Price
from metering.usage import Usage

tokens = st.integers(min_value=0, max_value=10**7)
usages = st.builds(Usage, tokens, tokens)
headers = st.none() | st.sampled_from(["0", "0.0", "0.25", "nan", "-1", "inf", "abc", ""])
PRICES = {"gpt-4o": Price(2.5e-6, 1e-5)}


@given(usages, headers, st.sampled_from(["gpt-4o", None, "unknown"]))
def test_a_failed_request_books_one_request_with_nothing_else(usage: Usage, header: str | None,
                                                            model: str | None) -> None:
    outcome = Outcome(502, "upstream_unreachable", "req-1", 12)
    charge = charge_for(model, usage, outcome, header, PRICES, "resp_1")
    assert charge == Charge(model, Usage(0, 0, True), 0.0, None, outcome)  # nothing stored either


@given(usages, headers)
def test_cost_is_never_negative_and_prices_are_asked_only_when_they_decide(usage: Usage, header: str | None) -> None:
    with_prices = charge_for("gpt-4o", usage, Outcome(), header, PRICES)
    without = charge_for("gpt-4o", usage, Outcome(), header, {})
    assert with_prices.cost >= 0 and with_prices.usage == Usage(usage.prompt_tokens, usage.completion_tokens)
    if not needs_prices(header, usage):  # then the prices change nothing: asking them is saved
        assert with_prices.cost == without.cost


def test_litellm_figure_wins_and_tokens_times_prices_fill_in_for_streams() -> None:
    assert charge_for("gpt-4o", Usage(10, 10), Outcome(), "0.5", PRICES).cost == 0.5
    assert charge_for("gpt-4o", Usage(1000, 100), Outcome(), None, PRICES).cost == 1000 * 2.5e-6 + 100 * 1e-5
    assert needs_prices(None, Usage(1, 0)) and not needs_prices(None, Usage()) and not needs_prices("0.1", Usage(1, 1))


@given(st.text(max_size=300))
def test_the_served_model_is_booked_only_when_it_is_a_plausible_name(group: str) -> None:
    booked = served_model("gpt-4", group)
    plausible = bool(group) and len(group) <= MAX_MODEL_NAME and group.isprintable()
    assert booked == (group if plausible else "gpt-4")


def test_a_fallback_is_booked_as_the_model_that_served() -> None:
    assert served_model("gpt-4", "gpt-4o") == "gpt-4o" and served_model("gpt-4", None) == "gpt-4"


outcomes = st.builds(Outcome, st.integers(100, 599), st.none() | st.sampled_from(["not_found", "stream_interrupted"]),
                     st.none() | st.text(max_size=40), st.none() | st.integers(0, 10**7))


@given(st.sampled_from(["gpt-4o", None]), usages, st.floats(min_value=0, max_value=1e6), st.booleans(),
       st.none() | st.just("resp_1"), outcomes)
def test_the_wire_form_round_trips(model: str | None, usage: Usage, cost: float, failed: bool,
                                   response_id: str | None, outcome: Outcome) -> None:
    charge = Charge(model, Usage(usage.prompt_tokens, usage.completion_tokens, failed), cost, response_id, outcome)
    assert Charge.from_wire(charge.to_wire()) == charge


def test_a_booking_from_a_container_object_one_version_behind_reads_as_a_success_without_details() -> None:
    old_wire = {"model": "m", "cost": 0.5, "usage": {"prompt_tokens": 1, "completion_tokens": 2, "failed": False}}
    assert Charge.from_wire(old_wire) == Charge("m", Usage(1, 2), 0.5)
