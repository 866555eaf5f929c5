"""The forecast's maths on hand-made arrays: win probabilities from history, the Monte Carlo, scores."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from dealflow.analytics import forecast
from dealflow.analytics.forecast import (
    CENSORED,
    ENDED,
    WON,
    History,
    Window,
    WinModel,
    age_edges,
    fit,
    landmark,
    naive_rates,
    open_stays,
    recent_stays,
    sorting_order,
    win_incidence,
    window_for,
)
from dealflow.analytics.forecast_history import Calls
from dealflow.analytics.forecast_rows import float_texts, rounded
from dealflow.analytics.forecast_runs import compute, report
from dealflow.analytics.forecast_scoring import brier, by_group, calibration
from dealflow.analytics.forecast_simulation import STEPS, amounts_won, simulate, won_bits
from dealflow.analytics.periods import Period

DAY = 86_400.0
INF = math.inf


def make_history(deals: list[tuple[float, bool]], stays: list[tuple[int, int, float, float]]) -> History:
    """A history from (closed day, won) per deal and (deal, stage, entered day, left day) per stay."""
    return History(
        stages=("a", "b"),
        owners=("ben",),
        deal_ids=tuple(f"D-{i}" for i in range(len(deals))),
        titles=tuple(f"Deal {i}" for i in range(len(deals))),
        closed=np.array([c * DAY for c, _ in deals]),
        won=np.array([w for _, w in deals]),
        amount=np.full(len(deals), 1000.0),
        has_amount=np.ones(len(deals), dtype=bool),
        stay_deal=np.array([s[0] for s in stays], dtype=np.int64),
        stay_stage=np.array([s[1] for s in stays], dtype=np.int64),
        stay_owner=np.zeros(len(stays), dtype=np.int64),
        entered=np.array([s[2] * DAY for s in stays]),
        left=np.array([s[3] * DAY for s in stays]),
    )


A, B = 0, 1
# Eight deals; the as-of moment is day 100 and the period runs to day 130.
TINY = make_history(
    deals=[(20, True), (50, False), (90, True), (40, False), (INF, False), (INF, False), (INF, False), (110, True)],
    stays=[
        (0, A, 0, 10), (0, B, 10, 20),  # won at 20
        (1, A, 5, 50),  # lost at 50
        (2, A, 20, 25), (2, B, 25, 90),  # won at 90
        (3, A, 30, 40),  # lost at 40
        (4, A, 60, INF),  # open, 40 days in a at day 100
        (5, A, 50, 70), (5, B, 70, INF),  # open, 30 days in b
        (6, A, 85, INF),  # open, 15 days in a
        (7, A, 40, 60), (7, B, 60, 110),  # open at day 100; won at 110, after the as-of moment
    ],
)  # fmt: skip
AT = 100 * DAY
MONTH = Window(0.0, 30 * DAY)


def test_the_window_runs_from_the_as_of_moment_or_the_later_period_start_to_the_period_end() -> None:
    assert window_for(100 * DAY, 100 * DAY, 130 * DAY) == Window(0.0, 30 * DAY)
    assert window_for(90 * DAY, 100 * DAY, 130 * DAY) == Window(10 * DAY, 40 * DAY)
    assert window_for(110 * DAY, 100 * DAY, 130 * DAY) == Window(0.0, 20 * DAY)


def test_without_censoring_the_incidence_is_the_plain_share_won_within_the_window() -> None:
    times = np.array([1, 2, 5, 8, 12]) * DAY
    kinds = np.array([WON, ENDED, WON, WON, ENDED])
    assert win_incidence(times, kinds, Window(0, 6 * DAY)) == (pytest.approx(2 / 5), 5)
    assert win_incidence(times, kinds, Window(3 * DAY, 10 * DAY)) == (pytest.approx(2 / 5), 5)
    assert win_incidence(times, kinds, Window(0, 1 * DAY)) == (0.0, 5)  # a win at exactly the end is outside


def test_censored_samples_leave_the_risk_set_as_in_kaplan_meier() -> None:
    times = np.array([1, 2, 3, 4, 6]) * DAY
    kinds = np.array([WON, CENSORED, WON, ENDED, CENSORED])
    # Day 1: 5 at risk, one won. Day 2: one leaves unseen. Day 3: 3 at risk, still open with
    # probability 4/5, one won. The sample censored at day 2 says nothing about a 5-day window.
    expected = 1 / 5 + (4 / 5) * (1 / 3)
    assert win_incidence(times, kinds, Window(0, 5 * DAY)) == (pytest.approx(expected), 4)


def test_landmark_samples_are_the_stays_still_in_the_stage_at_that_age_and_never_see_past_the_as_of() -> None:
    stays_in_b = np.flatnonzero(TINY.stay_stage == B)
    times, kinds = landmark(TINY, AT, stays_in_b, 0.0)
    # b stays: D-0 won 10 days in, D-2 won 65 days in, D-5 open (censored at 30), D-7 won after day 100
    assert sorted(zip((times / DAY).tolist(), kinds.tolist(), strict=True)) == [
        (10.0, WON), (30.0, CENSORED), (40.0, CENSORED), (65.0, WON),
    ]  # fmt: skip
    times, kinds = landmark(TINY, AT, stays_in_b, 20 * DAY)
    # at age 20 only the stays that lasted longer remain: D-2 (won 45 days later), D-5 and D-7
    assert sorted((times / DAY).tolist()) == [10.0, 20.0, 45.0]


def test_probabilities_equal_a_hand_calculation_on_a_tiny_history() -> None:
    # Stage a from entry, 8 samples: ended day 10 (D-3), censored at 15 (D-6), won at 20 (D-0);
    # the rest ran past 30 days. Kaplan-Meier: open with probability 7/8 at day 20, 6 at risk.
    a = 7 / 8 * 1 / 6
    # Stage b from entry: D-0 won at 10 of 4 samples; every other one observed past 30 days.
    b = 1 / 4
    # All 12 stays: at day 10 one won and one ended of 12; D-6 censored at 15; at day 20 one won of 9.
    pooled = 1 / 12 + (10 / 12) * (1 / 9)
    model = fit(TINY, AT, MONTH, weight=0)
    assert model.pooled == pytest.approx(pooled)
    assert model.stage_rates.tolist() == pytest.approx([a, b])
    shrunk = fit(TINY, AT, MONTH, weight=10)
    informed_a, informed_b = 7, 4  # D-6's stay, censored at 15 days, tells nothing of a 30-day window
    expected_a = (informed_a * a + 10 * pooled) / (informed_a + 10)
    expected_b = (informed_b * b + 10 * pooled) / (informed_b + 10)
    assert shrunk.stage_rates.tolist() == pytest.approx([expected_a, expected_b])
    stays = open_stays(TINY, AT)
    assert [TINY.deal_ids[d] for d in TINY.stay_deal[stays]] == ["D-4", "D-5", "D-6", "D-7"]
    ages = AT - TINY.entered[stays]
    probabilities = shrunk.probability(TINY.stay_stage[stays], ages)
    assert probabilities.tolist() == pytest.approx([expected_a, expected_b, expected_a, expected_b])


def table(model: WinModel) -> list[tuple[int, float, int, float]]:
    return [(b.stage, b.age, b.samples, b.probability) for b in model.buckets]


def test_nothing_after_the_as_of_moment_changes_the_probabilities() -> None:
    later = make_history(
        deals=[(20, True), (50, False), (90, True), (40, False), (101, False), (INF, False), (140, True), (105, False)],
        stays=[
            (0, A, 0, 10), (0, B, 10, 20), (1, A, 5, 50), (2, A, 20, 25), (2, B, 25, 90), (3, A, 30, 40),
            (4, A, 60, 101), (5, A, 50, 70), (5, B, 70, INF), (6, A, 85, 120), (6, B, 120, 140),
            (7, A, 40, 60), (7, B, 60, 105),
        ],
    )  # fmt: skip
    assert table(fit(later, AT, MONTH)) == table(fit(TINY, AT, MONTH))
    assert naive_rates(later, AT).tolist() == naive_rates(TINY, AT).tolist()
    assert table(fit(later, 130 * DAY, MONTH)) != table(fit(TINY, 130 * DAY, MONTH))


@pytest.mark.parametrize("flags", [True, False], ids=["a flag per stage and deal", "sorted pairs"])
def test_the_naive_rate_is_the_share_won_of_the_deals_that_were_in_the_stage_and_closed(
    flags: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not flags:
        monkeypatch.setattr(forecast, "SEEN_CELLS", 0)
    # a: D-0 and D-2 won, D-1 and D-3 lost (D-7 closed after day 100); b: D-0 and D-2, both won.
    assert naive_rates(TINY, AT).tolist() == [2 / 4, 2 / 2]
    # A stage none of whose deals has closed takes the share won of all closed deals.
    young = make_history([(10, True), (20, False), (30, False), (INF, False)], [
        (0, A, 0, 10), (1, A, 0, 20), (2, A, 0, 30), (3, A, 5, 25), (3, B, 25, INF),
    ])  # fmt: skip
    assert naive_rates(young, 40 * DAY).tolist() == [1 / 3, 1 / 3]
    twice = make_history([(50, True), (60, False)], [(0, A, 0, 10), (0, B, 10, 20), (0, A, 20, 50), (1, A, 0, 60)])
    assert naive_rates(twice, 100 * DAY).tolist() == [1 / 2, 1.0]  # D-0 twice in a counts once


def test_the_incidence_is_the_aalen_johansen_estimate_however_the_window_cuts_the_samples() -> None:
    rng = np.random.default_rng(8)
    times = np.sort(rng.integers(0, 60, 400).astype(float)) * DAY  # many ties
    kinds = rng.choice([CENSORED, WON, ENDED], 400)
    for start, end in ((0, 0.5), (0, 30), (10, 30), (0, 59), (0, 59.5), (0, 1000), (20, 20)):
        window = Window(start * DAY, end * DAY)
        found, informed = win_incidence(times, kinds, window)
        at_risk, still_open, expected = 400, 1.0, 0.0
        for moment in np.unique(times):
            here = kinds[times == moment]
            won, ended = int(np.sum(here == WON)), int(np.sum(here != CENSORED))
            if window.start <= moment < window.end:
                expected += still_open * won / at_risk
            still_open *= 1 - ended / at_risk
            at_risk -= here.size
        assert found == pytest.approx(expected, abs=1e-12)
        assert informed == int(np.sum((kinds != CENSORED) | (times >= window.end)))


def test_age_buckets_fall_back_on_the_younger_bucket_when_old_deals_are_few() -> None:
    # 25 stays won after one day, 25 lost after 100 days; all long finished by day 1000.
    deals = [(i * 10 + 1, True) for i in range(25)] + [(i * 10 + 100, False) for i in range(25)]
    stays = [(i, A, i * 10, i * 10 + 1) for i in range(25)] + [(25 + i, A, i * 10, i * 10 + 100) for i in range(25)]
    model = fit(make_history(deals, stays), 1000 * DAY, MONTH, weight=10)
    durations = np.array([1.0] * 25 + [100.0] * 25)
    buckets = [b for b in model.buckets if b.stage == A]
    assert [b.age / DAY for b in buckets] == age_edges(durations).tolist()[:3]  # 100 days: no stay got older
    stage = (50 * 0.5 + 10 * 0.5) / 60  # half won within 30 days; one stage, so the pooled rate is the same
    first = (25 * 0.0 + 10 * stage) / 35  # the 25 long stays, none won, pulled towards the stage
    second = (25 * 0.0 + 10 * first) / 35  # the same stays, pulled towards the bucket before
    assert [b.probability for b in buckets] == pytest.approx([stage, first, second])
    ages = np.array([0.5, 2.0, 60.0, 400.0]) * DAY
    assert model.probability(np.zeros(4, dtype=np.int64), ages).tolist() == pytest.approx(
        [stage, first, second, second]
    )


def test_age_edges_are_zero_and_the_quantiles_of_the_ages_reached() -> None:
    ages = np.arange(1.0, 101.0)
    assert age_edges(ages).tolist() == pytest.approx([0, 25.75, 50.5, 75.25, 90.1])
    assert age_edges(ages[:39]).tolist() == [0.0]


def test_the_model_recovers_known_probabilities_of_a_simulated_team() -> None:
    # Deals enter a, stay an exponential 20 days, go on to b 60% of the time (else lost); stay in b
    # an exponential 15 days and are won half of the time. Both stays are memoryless, so age does not
    # matter and the truth is known: P(won within 30 days).
    rng = np.random.default_rng(5)
    n = 4000
    start = rng.uniform(0, 720, n)
    in_a = rng.exponential(20, n)
    goes_on = rng.random(n) < 0.6
    in_b = rng.exponential(15, n)
    won = goes_on & (rng.random(n) < 0.5)
    closed = np.where(goes_on, start + in_a + in_b, start + in_a)
    stays = [(i, A, start[i], start[i] + in_a[i]) for i in range(n)]
    stays += [(i, B, start[i] + in_a[i], closed[i]) for i in range(n) if goes_on[i]]
    history = make_history(list(zip(closed.tolist(), won.tolist(), strict=True)), stays)
    model = fit(history, 720 * DAY, MONTH)
    truth_b = 0.5 * (1 - math.exp(-30 / 15))
    la, lb = 1 / 20, 1 / 15
    both_within = 1 - (lb * math.exp(-la * 30) - la * math.exp(-lb * 30)) / (lb - la)
    truth_a = 0.6 * 0.5 * both_within
    assert model.stage_rates.tolist() == pytest.approx([truth_a, truth_b], abs=0.03)
    for bucket in model.buckets:
        assert bucket.probability == pytest.approx([truth_a, truth_b][bucket.stage], abs=0.07), bucket
    naive = naive_rates(history, 720 * DAY)
    assert naive.tolist() == pytest.approx([0.3, 0.5], abs=0.03)  # the eventual rates: far off for 30 days


def test_monte_carlo_p50_is_close_to_the_analytic_mean_and_the_percentiles_are_ordered() -> None:
    rng = np.random.default_rng(11)
    amounts = rng.uniform(5_000, 80_000, 2_000)
    probabilities = rng.uniform(0.05, 0.7, 2_000)
    mean = float(amounts @ probabilities)
    spread = math.sqrt(float(np.sum(amounts**2 * probabilities * (1 - probabilities))))
    result = simulate(amounts, probabilities, trials=10_000, seed=42, base=1_000.0)
    assert result.normal_deals == 0
    p10, p50, p90 = result.percentiles()
    assert p10 <= p50 <= p90
    assert p50 == pytest.approx(mean + 1_000, rel=0.01)
    assert abs(result.totals.mean() - (mean + 1_000)) < 4 * spread / math.sqrt(10_000)
    assert p90 - p10 == pytest.approx(2 * 1.2816 * spread, rel=0.05)  # many deals: nearly normal
    again = simulate(amounts, probabilities, trials=10_000, seed=42, base=1_000.0)
    assert np.array_equal(again.totals, result.totals)
    assert not np.array_equal(simulate(amounts, probabilities, trials=10_000, seed=43).totals, result.totals)


def test_a_large_pipeline_draws_its_heaviest_deals_and_approximates_the_rest_within_the_sampling_error() -> None:
    rng = np.random.default_rng(3)
    amounts = rng.uniform(5_000, 100_000, 60_000)
    probabilities = rng.uniform(0.02, 0.6, 60_000)
    result = simulate(amounts, probabilities, trials=1_000, seed=7)
    assert result.exact_deals + result.normal_deals == 60_000
    assert result.normal_deals > 0
    assert 0 < result.error_bound <= 0.5 / math.sqrt(1_000)
    mean = float(amounts @ probabilities)
    spread = math.sqrt(float(np.sum(amounts**2 * probabilities * (1 - probabilities))))
    assert abs(result.totals.mean() - mean) < 4 * spread / math.sqrt(1_000)
    assert result.totals.std() == pytest.approx(spread, rel=0.1)


def test_certain_deals_always_count_and_impossible_ones_never() -> None:
    result = simulate(np.array([100.0, 50.0, 0.0]), np.array([1.0, 0.0, 0.5]), trials=200, seed=1, base=5.0)
    assert set(result.totals.tolist()) == {105.0}
    single = simulate(np.array([10.0]), np.array([0.3]), trials=20_000, seed=2)
    assert set(single.totals.tolist()) == {0.0, 10.0}
    assert np.mean(single.totals == 10.0) == pytest.approx(0.3, abs=3 * math.sqrt(0.21 / 20_000))


def test_brier_score_and_calibration_by_bucket() -> None:
    probabilities = np.array([0.9, 0.8, 0.15, 0.1, 0.12, 1.0])
    outcomes = np.array([True, False, False, False, True, True])
    assert brier(probabilities, outcomes) == pytest.approx((0.1**2 + 0.8**2 + 0.15**2 + 0.1**2 + 0.88**2 + 0.0) / 6)
    rows = calibration(probabilities, outcomes)
    assert [(r.bucket, r.deals) for r in rows] == [("0.1-0.2", 3), ("0.8-0.9", 1), ("0.9-1.0", 2)]
    assert rows[0].predicted == pytest.approx((0.15 + 0.1 + 0.12) / 3, abs=1e-4)
    assert rows[0].observed == pytest.approx(1 / 3, abs=1e-4)
    groups = by_group(["b", "a", "b", "a", "a", "b"], probabilities, outcomes)
    assert [(g.name, g.deals) for g in groups] == [("a", 3), ("b", 3)]
    assert groups[0].brier == pytest.approx((0.8**2 + 0.1**2 + 0.88**2) / 3, abs=1e-4)


def test_a_column_is_rounded_exactly_as_python_rounds_each_value() -> None:
    rng = np.random.default_rng(3)
    halves = (np.arange(-3000, 3000) + 0.5) / 100  # the cases where a scaled product can cross a half
    values = np.concatenate(
        [
            rng.normal(0, 1e5, 20_000),
            rng.random(20_000),
            halves,
            np.nextafter(halves, INF),
            np.nextafter(halves, -INF),
            [0.125, 2.675, 1.005, -0.125, 0.5, 1e17 + 2, 2.0**53, -2.5e-5, 0.0, -0.0, INF, np.nan, 123456.785],
        ]
    )
    for digits in (2, 4):
        assert [repr(v) for v in rounded(values, digits)] == [repr(round(float(v), digits)) for v in values]


def test_the_model_learns_from_the_last_year_or_from_the_latest_stays_when_the_year_holds_too_few() -> None:
    # Deal d enters stage a on day 2d and closes five days later: won when it began before day 500.
    history = make_history(
        [(2 * d + 5, 2 * d < 500) for d in range(400)], [(d, A, 2 * d, 2 * d + 5) for d in range(400)]
    )
    at = 900 * DAY

    def first_bucket(model: WinModel) -> tuple[int, float]:
        bucket = next(b for b in model.buckets if b.stage == A and b.age == 0)
        return bucket.samples, bucket.observed

    assert recent_stays(history, at, least=50).tolist() == list(range(268, 400))  # began in the last 365 days
    assert first_bucket(fit(history, at, MONTH, weight=0, least=50)) == (132, 0.0)
    assert first_bucket(fit(history, at, MONTH, weight=0, least=300)) == (300, pytest.approx(150 / 300))
    assert first_bucket(fit(history, at, MONTH, weight=0)) == (400, pytest.approx(250 / 400))  # a small history: all


def test_the_sorting_order_is_numpys_stable_argsort_ties_and_near_ties_included() -> None:
    rng = np.random.default_rng(11)
    spans = rng.exponential(30 * DAY, 50_000)
    values = np.concatenate([spans, spans[:5000], np.nextafter(spans[:5000], INF), np.round(spans / DAY) * DAY, [0.0]])
    assert np.array_equal(sorting_order(values), np.argsort(values, kind="stable"))
    mixed = np.array([3.0, -1.0, INF, 2.0, 3.0])  # outside the fast path's domain
    assert np.array_equal(sorting_order(mixed), np.argsort(mixed, kind="stable"))


def test_each_deal_is_won_with_exactly_its_probability_digits_past_the_compared_ones_included() -> None:
    tiny = 2.0 ** -(STEPS + 3)  # decided only by what is left after the digits compared word by word
    probabilities = np.array([0.3, 1 / 3, tiny * 5, 0.5, 0.999, 0.0, 1 - 2.0**-30, 0.123456789] * 9)  # 72: two words
    won = won_bits(probabilities, 400_000, np.random.default_rng(4))
    bits = np.unpackbits(won.astype("<u8").view(np.uint8), axis=1, bitorder="little")
    assert not bits[:, probabilities.size :].any()  # the padding past the last deal is never won
    share = bits[:, : probabilities.size].mean(axis=0)
    error = np.sqrt(probabilities * (1 - probabilities) / 400_000)
    assert np.all(np.abs(share - probabilities) <= 4.5 * error + 1e-12)
    assert share[5] == 0.0  # never when impossible
    assert share[2] > 0  # tiny chances do happen
    first, second = bits[:, 0].astype(float), bits[:, 1].astype(float)
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.01  # deals are drawn independently


def test_the_amounts_won_in_a_trial_are_the_sum_over_the_deals_whose_bit_is_set() -> None:
    probabilities = np.random.default_rng(5).random(150)
    amounts = np.arange(1.0, 151.0) * 25
    won = won_bits(probabilities, 500, np.random.default_rng(6))
    bits = np.unpackbits(won.astype("<u8").view(np.uint8), axis=1, bitorder="little")[:, :150]
    assert np.array_equal(amounts_won(won, amounts), bits @ amounts)


def test_a_column_is_written_as_json_dumps_writes_each_value() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            np.round(rng.random(20_000), 4),
            np.round(rng.lognormal(9, 3, 20_000), 2),
            rng.normal(0, 1, 5_000) * 10.0 ** rng.integers(-12, 25, 5_000),
            10.0 ** np.arange(-8, 25),
            np.nextafter(10.0 ** np.arange(-8, 25), 0),
            [0.0, -0.0, 1e-4, 9.99e-5, 1e15, 1e16, 5.0, 100.0, 0.1 + 0.2, INF, -INF, np.nan, 2.0**53, 1 / 3],
        ]
    )
    assert float_texts(values) == [json.dumps(v) for v in values.tolist()]
    assert float_texts(np.array([])) == []


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("with_calls", [False, True])
def test_the_report_as_json_is_the_text_json_dumps_writes_for_the_model(indent: int | None, with_calls: bool) -> None:
    titles = ('Say "hi"', "back\\slash\nnew line\ttab\x01", "Ünïcode, 日本", "plain")
    history = replace(
        TINY,
        titles=TINY.titles[:4] + titles,
        deal_ids=(*TINY.deal_ids[:5], 'D-"5"', *TINY.deal_ids[6:]),
        owners=('ben "b"',),
        amount=np.array([1000.0, 2000.0, 3000.0, 4000.0, 1234.565, 0.0, 1e17, 0.125]),
        has_amount=np.array([True, True, True, True, True, False, True, True]),
    )
    nothing = np.full(8, np.nan)
    calls = Calls(category=(None,) * 8, category_at=nothing, probability=nothing, probability_at=nothing)
    if with_calls:  # D-4 commit with 0.8 and D-6 best case, both called before day 100; D-7 after it
        at = np.array([np.nan] * 4 + [50.0, np.nan, 60.0, 120.0]) * DAY
        calls = Calls(
            category=(None, None, None, None, "commit", None, "best_case", "pipeline"),
            category_at=at,
            probability=np.array([np.nan] * 4 + [0.8, np.nan, np.nan, 0.3]),
            probability_at=at,
        )
    as_of = datetime.fromtimestamp(AT, UTC)
    period = Period(label="days 100-130", start=as_of, end=datetime.fromtimestamp(AT + MONTH.end, UTC))
    result = report(compute(history, period, as_of, trials=500, seed=3), history, calls, process=None)
    compact = None if indent else (",", ":")
    text = result.json_text(indent)
    expected = json.dumps(result.model_dump(mode="json"), indent=indent, ensure_ascii=False, separators=compact)
    assert text == expected
    rows = json.loads(text)["deals"]
    assert {r["title"] for r in rows} == set(titles)
    assert [r["amount"] for r in rows if r["deal_id"] == 'D-"5"'] == [None]
    called = {r["deal_id"]: (r["forecast_category"], r["rep_probability"]) for r in rows}
    if with_calls:
        assert called["D-4"] == ("commit", 0.8)
        assert called["D-6"] == ("best_case", None)
        assert called["D-7"] == (None, None)  # called after the forecast's moment
    else:
        assert set(called.values()) == {(None, None)}
    # Rows read back (a serialised forecast) are written the same way.
    again = type(result).model_validate(json.loads(text))
    assert again.json_text(indent) == text


@pytest.mark.parametrize("still_open", [0, 1], ids=["no open deal", "one open deal"])
def test_a_report_with_no_or_one_open_deal_is_written_as_json_dumps_writes_it(still_open: int) -> None:
    deals = [(20.0, True), (30.0, False), (INF if still_open else 40.0, False)]
    history = make_history(deals, [(0, A, 0, 20), (1, A, 5, 30), (2, A, 10, INF if still_open else 40)])
    nothing = np.full(3, np.nan)
    calls = Calls(category=(None,) * 3, category_at=nothing, probability=nothing, probability_at=nothing)
    as_of = datetime.fromtimestamp(AT, UTC)
    period = Period(label="days 100-130", start=as_of, end=datetime.fromtimestamp(AT + MONTH.end, UTC))
    result = report(compute(history, period, as_of, trials=200, seed=1), history, calls, process=None)
    assert len(result.deals) == still_open
    for indent, compact in ((None, (",", ":")), (2, None)):
        dumped = json.dumps(result.model_dump(mode="json"), indent=indent, ensure_ascii=False, separators=compact)
        assert result.json_text(indent) == dumped
