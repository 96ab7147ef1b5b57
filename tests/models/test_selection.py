"""Prequential selection: folds shifted back, the rule that keeps the incumbent, the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fraud_models import selection
from fraud_models.features import FEATURE_NAMES
from fraud_models.selection import (
    DEFAULT_CANDIDATES,
    Candidate,
    CandidateResult,
    FoldFigures,
    choose,
    fold_windows,
    load_candidates,
)
from fraud_models.training import feature_columns, longer_fit, parse_window
from streamflow_cli import main

from tests.models.synth import generate, write_handbook_parquet

DAY = 86_400.0


def test_folds_step_back_one_test_window_at_a_time() -> None:
    train, test = parse_window("2018-07-25..2018-07-31"), parse_window("2018-08-08..2018-08-14")
    folds = fold_windows(train, test, 3)
    assert [(f.start, t.start) for f, t in folds] == [
        (train.start - 7 * k * DAY, test.start - 7 * k * DAY) for k in (1, 2, 3)
    ]
    assert all(t.end <= test.start for _, t in folds)  # no fold tests on the protocol's test week
    assert folds[0][1].end == test.start  # fold 1 is the week just before it
    with pytest.raises(ValueError, match="at least one fold"):
        fold_windows(train, test, 0)
    with pytest.raises(ValueError, match="must start after"):
        fold_windows(test, train, 2)


def _result(name: str, cps: list[float], ap: float = 0.5) -> CandidateResult:
    return CandidateResult(
        Candidate(name, name), tuple(FoldFigures(k, 0.9, ap, cp) for k, cp in enumerate(cps, start=1))
    )


def test_the_incumbent_stays_unless_a_challenger_wins_clearly() -> None:
    base = [0.30] * 10
    rule: dict[str, Any] = {"min_gain": 0.002, "min_win_share": 0.6}
    # The incumbent is best: it stays.
    assert choose([_result("a", base), _result("b", [0.29] * 10)], **rule)[0] == "a"
    # +0.003 on average and 7 of 10 folds won: the challenger is chosen.
    clear = [0.305] * 7 + [0.2983] * 3
    name, reason = choose([_result("a", base), _result("b", clear)], **rule)
    assert name == "b" and "won 7 of 10" in reason
    # The same mean gain from two lucky folds: not a clear win.
    lucky = [0.3125] * 2 + [0.2995] * 8
    name, reason = choose([_result("a", base), _result("b", lucky)], **rule)
    assert name == "a" and "not a clear win" in reason
    # Every fold won, but by less than the margin: noise, the incumbent stays.
    assert choose([_result("a", base), _result("b", [0.301] * 10)], **rule)[0] == "a"
    # Equal means: the higher average precision is the better one, still not a clear win.
    assert choose([_result("a", base, 0.5), _result("b", base, 0.6)], **rule)[0] == "a"


def test_candidates_from_json_are_checked() -> None:
    (c,) = load_candidates(
        [
            {
                "name": "w",
                "params": {"class_weight": {"0": 1, "1": 5}},
                "monotoneIncreasing": ["terminal_risk_1d"],
            }
        ]
    )
    params = c.estimator_params()
    assert params["class_weight"] == {0: 1, 1: 5}  # JSON keys become the classes 0 and 1
    columns = feature_columns("full")
    assert [FEATURE_NAMES[columns[i]] for i, v in enumerate(params["monotonic_cst"]) if v] == [
        "terminal_risk_1d"
    ]
    for spec, message in (
        ([], "no candidates"),
        ([{"name": "x", "algorithm": "svm"}], "unsupported algorithm 'svm'"),
        ([{"name": "x", "featureSet": "nope"}], "unknown feature set 'nope'"),
        (
            [{"name": "x", "featureSet": "book", "monotoneIncreasing": ["terminal_fraud_age_h"]}],
            "not in feature set",
        ),
        ([{"name": "x", "lr": 1}], "unknown key"),
        ([{"name": "x", "monotoneIncreasing": "amount"}], "must be a list of feature names"),
        ([{"name": "x", "params": {"class_weight": {"yes": 2}}}], "class_weight keys must be 0 and 1"),
        (
            [{"name": "x", "algorithm": "logistic_regression", "monotoneIncreasing": ["amount"]}],
            "monotone constraints need hist_gradient_boosting",
        ),
        ([{"name": "x"}, {"name": "x"}], "names repeat: x"),
        ([{"params": {}}], "string 'name'"),
    ):
        with pytest.raises(ValueError, match=message):
            load_candidates(spec)


def test_a_candidates_fit_length_is_checked() -> None:
    (c,) = load_candidates([{"name": "w", "fitDays": 28}])
    assert c.fit_days == 28
    with pytest.raises(ValueError, match="'fitDays' must be a whole number"):
        load_candidates([{"name": "w", "fitDays": "28"}])
    with pytest.raises(ValueError, match="fitDays must be between 1 and 366"):
        load_candidates([{"name": "w", "fitDays": 0}])


def test_the_default_grid_starts_with_the_shipped_defaults() -> None:
    assert DEFAULT_CANDIDATES[0].name == "default"
    assert DEFAULT_CANDIDATES[0].params == {} and DEFAULT_CANDIDATES[0].feature_set == "full"
    assert len({c.name for c in DEFAULT_CANDIDATES}) == len(DEFAULT_CANDIDATES)


def test_select_end_to_end_never_replays_the_test_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2018-04-01 + 77 days: 39 days of feature history before fold 2's fit week, then the test week.
    data = write_handbook_parquet(
        tmp_path / "tx.parquet", generate(days=77, customers=80, terminals=30, seed=5, compromised_share=0.4)
    )
    test_start = parse_window("2018-06-10..2018-06-16").start
    replayed: list[float] = []
    real = selection.build_features

    def recording(tx: Any, delay: float, **kw: Any) -> Any:  # a spy on the real replay
        replayed.append(float(np.max(tx.event_time)))
        return real(tx, delay, **kw)

    monkeypatch.setattr(selection, "build_features", recording)
    candidates = tmp_path / "candidates.json"
    candidates.write_text(
        json.dumps(
            [
                {"name": "default", "description": "the shipped defaults"},
                {"name": "lr", "algorithm": "logistic_regression", "featureSet": "book"},
                {"name": "ten-days", "description": "the default on 10 days", "fitDays": 10},
            ]
        )
    )
    args = ["model", "select", "--data", str(data), "--train-window", "2018-05-27..2018-06-02"]
    args += ["--test-window", "2018-06-10..2018-06-16", "--folds", "2", "--candidates", str(candidates)]
    out_json, out_md = tmp_path / "select.json", tmp_path / "select.md"
    assert main([*args, "--json", str(out_json), "--write", str(out_md), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == out_md.read_text().strip()
    assert replayed and max(replayed) < test_start
    report = json.loads(out_json.read_text())
    assert [f["test"]["start"][:10] for f in report["folds"]] == ["2018-06-03", "2018-05-27"]
    assert [c["name"] for c in report["candidates"]] == ["default", "lr", "ten-days"]
    assert [c["fitDays"] for c in report["candidates"]] == [None, None, 10]
    # a longer fit is another model, judged on the same rows
    assert report["candidates"][2]["folds"] != report["candidates"][0]["folds"]
    for c in report["candidates"]:
        assert len(c["folds"]) == 2
        assert all(0.0 <= f["cardPrecisionAt100"] <= 1.0 and 0.0 <= f["auc"] <= 1.0 for f in c["folds"])
    assert report["chosen"] in {"default", "lr", "ten-days"} and report["reason"]
    assert f"Chosen: **{report['chosen']}**" in printed
    # The file has the simulator's scenarios: each fold's scenario reference is shown, and called no bound.
    references = report["scenarioReferenceCardPrecisionAt100"]
    assert len(references) == 2 and all(0.0 < c <= 1.0 for c in references)
    assert "| scenario reference, not a bound" in printed
    assert "ceiling" not in printed

    # A third fold would need feature history from before the data starts: a clear error, nothing run.
    assert main([*args[:-4], "--folds", "3", "--no-progress"]) == 1
    assert "use at most 2 fold(s)" in capsys.readouterr().err


def test_a_longer_fit_reaches_back_only_as_far_as_warmed_up_history() -> None:
    fit = parse_window("2018-05-16..2018-05-22")
    first = parse_window("2018-04-01..2018-04-01").start
    week = 7 * DAY
    assert longer_fit(fit, 7, first, week) == fit
    assert longer_fit(fit, 3, first, week) == fit  # never shorter than the protocol's own window
    # 39 days of history (30-day windows, a 7-day delay, 2 days' margin) before the first day it may use
    assert longer_fit(fit, 28, first, week).iso()["start"] == "2018-05-10T00:00:00Z"
    later = parse_window("2018-07-25..2018-07-31")
    assert longer_fit(later, 28, first, week).iso() == {
        "start": "2018-07-04T00:00:00Z",
        "end": "2018-08-01T00:00:00Z",
    }
