"""Domain lexicon columns: counted per text, learned by the model, and tipping host/database security questions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hololoom_core.agents.lexicon import LEXICON_WEIGHT, LEXICONS, lexicon_matrix, lexicon_row
from hololoom_core.agents.model import ModelCache
from hololoom_core.agents.roster import load_roster
from hololoom_core.agents.router import AgentRouter
from hololoom_core.config.agents import AgentsConfig


@pytest.fixture(scope="module")
def router() -> AgentRouter:
    return AgentRouter(load_roster(), AgentsConfig(), ModelCache(None))


def test_lexicon_counts_whole_words_per_domain() -> None:
    agents = [agent for agent, _pattern in LEXICONS]
    row = dict(zip(agents, lexicon_row("rotate the TLS certs and enable SELinux"), strict=True))
    assert row["security"] == pytest.approx(LEXICON_WEIGHT * math.log1p(4))
    assert row["code_review"] == 0.0
    assert lexicon_row("the pipeline is slow")[agents.index("security")] == 0.0  # no match inside other words
    matrix = lexicon_matrix(["refactor this function", "hello"])
    assert matrix.shape == (2, len(LEXICONS)) and matrix[1].sum() == 0.0


def test_the_fast_path_matches_the_batch_probabilities_with_lexicon_columns(router: AgentRouter) -> None:
    model = router.model()
    question = "should the oracle hosts run with selinux enforcing"
    fast = model.predict(question).scores
    batch = model.probabilities([question])[0]
    assert np.allclose([fast[name] for name in model.classes], batch, atol=1e-9)


@pytest.mark.parametrize("question, agent", [
    # security questions about hosts and databases (new wording, not in the labelled set)
    ("are the cassandra nodes encrypting data on disk", "security"),
    ("should the oracle hosts run with selinux enforcing", "security"),
    ("which tls versions does the mail relay still accept", "security"),
    ("audit which iam roles can drop tables on the analytics warehouse", "security"),
    # and operational trouble on the same kind of hosts still goes to incident
    ("the mongodb replica set is lagging behind the primary", "incident"),
    ("disk full on the cassandra nodes, writes failing", "incident"),
])
def test_host_and_database_questions_go_to_security_or_incident_by_what_they_ask(
        router: AgentRouter, question: str, agent: str) -> None:
    assert router.decide(question).agent == agent
