# The two commands a newcomer needs; both install what is missing first (cached under ~/.cache/streamflow).
.PHONY: setup demo test
setup:
	bash .ci/setup
demo: setup
	python3 -m streamflow_cli demo
test: setup
	python3 -m pytest
