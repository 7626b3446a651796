# The two commands of the README. Both install what they need on first use (scripts/bootstrap.sh).
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sape-geo transfer assets/creature_source.obj assets/creature_target.obj \
		--landmarks assets/creature_landmarks.txt --out runs/demo --overwrite

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 -q tests
