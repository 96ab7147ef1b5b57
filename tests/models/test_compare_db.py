"""compare_database and `streamflow model compare` on a real, migrated PostgreSQL database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fraud_models.compare import ScoredEvent, compare, compare_database
from fraud_operator.db.migrations import migrate
from streamflow_cli import main

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
ACTIVE = [0.10, 0.80, 0.30, 0.70, 0.20, 0.60]
SHADOW = [0.05, 0.90, 0.20, 0.40, 0.10, 0.95]
ACTIVE_ML = [0.02, 0.60, 0.20, 0.50, 0.10, 0.40]
SHADOW_ML = [0.01, 0.70, 0.10, 0.30, 0.05, 0.85]
# tx3 was first confirmed a fraud, then revised to genuine; tx5 has only the gold fact's label.
FINAL_LABELS = {"tx0": False, "tx1": True, "tx2": False, "tx3": False, "tx5": True}


@pytest.fixture
def scored_dsn(postgres_dsn: str) -> str:
    migrate(postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for version, role, scores, ml in (
            ("hgb-1", "active", ACTIVE, ACTIVE_ML),
            ("hgb-2", "shadow", SHADOW, SHADOW_ML),
        ):
            for i, score in enumerate(scores):
                conn.execute(
                    "INSERT INTO gold.model_scores (transaction_id, model_version, role, score, ml_score, "
                    "alert, customer_id, event_time, scored_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())",
                    (
                        f"tx{i}",
                        version,
                        role,
                        score,
                        ml[i],
                        score >= 0.5,
                        f"c{i % 3}",
                        T0 + timedelta(hours=i),
                    ),
                )
        # An event only the active model scored, and one of another version: neither is paired.
        conn.execute(
            "INSERT INTO gold.model_scores (transaction_id, model_version, role, score, event_time, "
            "scored_at) VALUES ('tx9', 'hgb-1', 'active', 0.5, %s, now()), "
            "('tx0', 'other', 'shadow', 0.5, %s, now())",
            (T0, T0),
        )
        for tid, fraud, confirmed in (
            ("tx0", False, T0 + timedelta(days=7)),
            ("tx1", True, T0 + timedelta(days=7)),
            ("tx2", False, T0 + timedelta(days=7)),
            ("tx3", True, T0 + timedelta(days=7)),
            ("tx3", False, T0 + timedelta(days=9)),
        ):
            conn.execute(
                "INSERT INTO bronze.fraud_labels (transaction_id, is_fraud, confirmed_at) "
                "VALUES (%s, %s, %s)",
                (tid, fraud, confirmed),
            )
        conn.execute(
            "INSERT INTO gold.dim_customer (customer_id, first_seen_at, last_seen_at) VALUES ('c2', %s, %s)",
            (T0, T0),
        )
        conn.execute(
            "INSERT INTO gold.dim_terminal (terminal_id, first_seen_at, last_seen_at) VALUES ('t1', %s, %s)",
            (T0, T0),
        )
        conn.execute(
            "INSERT INTO gold.fact_transactions (transaction_id, customer_id, terminal_id, amount, currency, "
            "event_time, is_fraud, label_confirmed_at) VALUES ('tx5', 'c2', 't1', 10, 'EUR', %s, true, %s)",
            (T0, T0 + timedelta(days=7)),
        )
    return postgres_dsn


def _expected(scores_a: list[float], scores_s: list[float], start: int = 0) -> dict[str, object]:
    def events(scores: list[float]) -> list[ScoredEvent]:
        return [
            ScoredEvent(f"tx{i}", f"c{i % 3}", T0 + timedelta(hours=i), s, s >= 0.5)
            for i, s in enumerate(scores)
            if i >= start
        ]

    labels = {k: v for k, v in FINAL_LABELS.items() if int(k[2:]) >= start}
    result = compare(
        events(scores_a),
        events(scores_s),
        labels,
        threshold=0.5,
        active_version="hgb-1",
        shadow_version="hgb-2",
    )
    status = result.to_status()
    del status["computedAt"], status["unpairedActive"], status["unpairedShadow"]
    return status


def test_compare_database_pairs_versions_and_uses_the_latest_label(scored_dsn: str) -> None:
    with psycopg.connect(scored_dsn, autocommit=True) as conn:
        result = compare_database(conn, "hgb-1", "hgb-2", threshold=0.5)
    assert (result.paired, result.active_unpaired, result.shadow_unpaired) == (6, 1, 0)
    assert (result.labeled, result.frauds) == (5, 2)  # tx3's revision counts, tx5 from the gold fact
    status = result.to_status()
    del status["computedAt"], status["unpairedActive"], status["unpairedShadow"]
    assert status == _expected(ACTIVE, SHADOW)
    assert result.active.recorded_alerts == 3 and result.shadow.recorded_alerts == 2


def test_compare_database_since_and_the_model_score_column(scored_dsn: str) -> None:
    with psycopg.connect(scored_dsn, autocommit=True) as conn:
        later = compare_database(conn, "hgb-1", "hgb-2", threshold=0.5, since=T0 + timedelta(hours=2))
        assert later.paired == 4 and later.window_start == T0 + timedelta(hours=2)
        own = compare_database(conn, "hgb-1", "hgb-2", threshold=0.5, score_column="ml_score")
        assert own.paired == 6
        assert own.active.mean_score == pytest.approx(sum(ACTIVE_ML) / 6)
        assert own.shadow.mean_score == pytest.approx(sum(SHADOW_ML) / 6)
        assert (own.both_alert, own.active_only_alert, own.shadow_only_alert) == (1, 1, 1)
    with psycopg.connect(scored_dsn, autocommit=True) as conn, pytest.raises(ValueError, match="other"):
        # The 'other' version's row has no ml_score: nothing is paired, and the error names the versions.
        compare_database(conn, "hgb-1", "other", threshold=0.5, score_column="ml_score")
    with (
        psycopg.connect(scored_dsn, autocommit=True) as conn,
        pytest.raises(ValueError, match="score column"),
    ):
        compare_database(conn, "hgb-1", "hgb-2", threshold=0.5, score_column="score; DROP TABLE x")


def test_compare_database_without_pairs_names_both_versions(scored_dsn: str) -> None:
    with psycopg.connect(scored_dsn, autocommit=True) as conn, pytest.raises(ValueError) as err:
        compare_database(conn, "hgb-1", "missing-9", threshold=0.5)
    assert "hgb-1" in str(err.value) and "missing-9" in str(err.value)


def test_cli_database_mode_prints_the_table_and_json(
    scored_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STREAMFLOW_PG_DSN", raising=False)
    monkeypatch.setenv("STREAMFLOW_DB_DSN", scored_dsn)
    assert main(["model", "compare", "--active", "hgb-1", "--shadow", "hgb-2"]) == 0
    table = capsys.readouterr().out
    assert "hgb-1" in table and "hgb-2" in table and "paired events      6" in table
    since = (T0 + timedelta(hours=2)).isoformat()
    args = ["model", "compare", "--dsn", scored_dsn, "--active", "hgb-1", "--shadow", "hgb-2", "--json"]
    assert main([*args, "--since", since]) == 0
    status = json.loads(capsys.readouterr().out)
    del status["computedAt"], status["unpairedActive"], status["unpairedShadow"]
    assert status == _expected(ACTIVE, SHADOW, start=2)


def test_cli_database_errors_are_clear_and_never_show_the_password(
    scored_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STREAMFLOW_PG_DSN", raising=False)
    monkeypatch.delenv("STREAMFLOW_DB_DSN", raising=False)
    assert main(["model", "compare", "--active", "hgb-1", "--shadow", "hgb-2"]) == 2
    assert "STREAMFLOW_DB_DSN" in capsys.readouterr().err
    assert main(["model", "compare", "--dsn", scored_dsn, "--active", "hgb-1", "--shadow", "nope"]) == 1
    assert "nope" in capsys.readouterr().err
    bad = "postgresql://streamflow:s3cret-pw@127.0.0.1:1/none"
    assert main(["model", "compare", "--dsn", bad, "--active", "a", "--shadow", "b"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("streamflow model compare:") and "s3cret-pw" not in err
