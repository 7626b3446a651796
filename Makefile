# The two commands of the README. Both install what they need on first use (scripts/bootstrap.sh).
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sape-geo transfer assets/creature_source.obj assets/creature_target.obj \
		--landmarks assets/creature_landmarks.txt --out runs/demo --overwrite

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 -q tests

# Quick iteration: everything but the tests marked slow (end-to-end fits of seconds each).
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 -q -m "not slow" tests
