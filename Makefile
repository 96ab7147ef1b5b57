# The two commands a newcomer needs; both install what is missing first (cached under ~/.cache/streamflow).
.PHONY: setup demo test chaos coverage
setup:
	bash .ci/setup
demo: setup
	python3 -m streamflow_cli demo
test: setup
	python3 -m pytest
# The chaos suite, each scenario 5 times, its timings into benchmarks/results/chaos.json (CI runs it once).
chaos: setup
	STREAMFLOW_CHAOS_REPETITIONS=5 STREAMFLOW_CHAOS_RESULTS=benchmarks/results/chaos.json \
		python3 -m pytest tests/chaos -m chaos
# The whole suite under coverage.py: lines and branches of fraud_operator, fraud_jobs and fraud_models, the
# subprocesses the tests start included ([tool.coverage.*] in pyproject.toml); figures into
# benchmarks/results/coverage.json. Slower than `make test`, so not part of it (nor of CI). PYTEST_ARGS narrows it.
COVERAGE_RESULTS ?= benchmarks/results/coverage.json
coverage: setup
	rm -f .coverage .coverage.*; mkdir -p build
	t0=$$(date +%s); python3 -m coverage run -m pytest $(PYTEST_ARGS); rc=$$?; \
	python3 -m coverage combine -q && python3 -m coverage report && \
	python3 -m coverage json -q -o build/coverage-full.json && \
	python3 benchmarks/coverage_summary.py build/coverage-full.json $(COVERAGE_RESULTS) \
		--seconds $$(( $$(date +%s) - t0 )) --pytest-exit $$rc || rc=1; exit $$rc
