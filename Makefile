# The two commands a newcomer needs; both install what is missing first (cached under ~/.cache/streamflow).
.PHONY: setup demo test chaos
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
