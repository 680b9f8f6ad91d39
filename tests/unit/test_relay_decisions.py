"""The relay's decision to claim again within a pass, over every small case."""

from __future__ import annotations

import itertools

from relay.relay import MAX_CLAIMS_PER_PASS, claims_another


def test_a_full_claim_below_the_bound_claims_again():
    assert claims_another(claimed=500, batch_size=500, claims=1, stopping=False)


def test_a_short_claim_ends_the_pass():
    assert not claims_another(claimed=499, batch_size=500, claims=1, stopping=False)
    assert not claims_another(claimed=0, batch_size=500, claims=1, stopping=False)


def test_the_bound_ends_a_pass_whose_claims_all_came_back_full():
    assert claims_another(500, 500, MAX_CLAIMS_PER_PASS - 1, stopping=False)
    assert not claims_another(500, 500, MAX_CLAIMS_PER_PASS, stopping=False)


def test_a_stopping_relay_claims_no_more():
    assert not claims_another(500, 500, 1, stopping=True)


def test_every_small_case_claims_again_only_when_full_bounded_and_running():
    for claimed, batch_size, claims, stopping in itertools.product(
        range(4), range(1, 4), range(1, MAX_CLAIMS_PER_PASS + 2), (False, True)
    ):
        expected = claimed == batch_size and claims < MAX_CLAIMS_PER_PASS and not stopping
        assert claims_another(claimed, batch_size, claims, stopping) is expected
