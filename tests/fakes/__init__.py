"""Fakes of the outside services kpibot talks to, so no test reaches the network."""

from tests.fakes.slack import Call, FakeSlack, signed_request, slow_connection

__all__ = ["Call", "FakeSlack", "signed_request", "slow_connection"]
