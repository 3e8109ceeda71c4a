# The two commands of the README: `make up` runs the stack, `make test` runs the tests.
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: install up down status test lint typecheck schema bench clean train-tools model evaluate \
	corpus model-continue device-pack

install: .venv/.installed
	$(PY) -m infra install

.venv/.installed: requirements.lock requirements-runtime.txt requirements-test.txt pyproject.toml
	python3.11 -m venv .venv || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(PY) -m pip install -q -r requirements.lock -r requirements-runtime.txt -r requirements-test.txt
	touch $@

up: install
	$(PY) -m infra up

down:
	$(PY) -m infra down

status:
	$(PY) -m infra status

lint: .venv/.installed
	$(PY) -m ruff check .

# The served models are type-checked one directory at a time, as Triton loads them (each is its
# own import root, and every one has a model.py).
typecheck: .venv/.installed
	$(PY) -m mypy
	for model in model/repository/*/1 bench/null_model/*/1; do \
		(cd $$model && MYPYPATH=.:$(CURDIR) $(CURDIR)/$(PY) -m mypy --strict \
			--ignore-missing-imports --cache-dir $(CURDIR)/.mypy_cache/served *.py) || exit 1; \
	done

schema: .venv/.installed
	$(PY) -m schemas

test: install lint typecheck
	$(PY) -m pytest -q

clean: down
	rm -rf .stack

bench: install
	$(PY) -m bench.first_token
	$(PY) -m bench.pipeline

# The model (issue 4, docs/MODEL.md). Training needs PyTorch and tokenizers; serving does not.
train-tools: .venv/.installed
	$(PY) -m pip install -q -r requirements-train.txt -c requirements.lock

# The corpus: named packages of other languages fetched by their registries' clients, then the
# manifest of everything (licences, dedup, held-out split).
.stack/corpus/registries/sources.json:
	$(PY) -m corpus.registries
.stack/corpus/manifest.jsonl: .stack/corpus/registries/sources.json
	$(PY) -m corpus.manifest
corpus: .stack/corpus/manifest.jsonl

# Rebuilds the model from scratch: corpus manifest, tokenizer, seeded training (many hours here).
model: train-tools corpus
	$(PY) -m training.tokenizer
	$(PY) -m training.train

# Goes on training from the committed weights (in the background, across sessions); the result
# lands in .stack/train-run: compare it (`python -m training.heldout_loss`), evaluate it, then
# copy weights.npz, card.json and the two .gguf files into the model. Run 4's settings; the seed follows
# the steps already done, so each continuation sees new examples.
STEPS ?= 450
RATE ?= 2e-4
WARMUP ?= 20
model-continue: train-tools corpus
	mkdir -p .stack/train-run
	nice -n 5 $(PY) -m training.train --resume model/repository/code_fim/1 \
		--out .stack/train-run --steps $(STEPS) --batch 16 --learning-rate $(RATE) --warmup $(WARMUP) \
		--checkpoint-every 100

# The corpus as one file for a training run on a lent accelerator (training/device_run.sh).
.stack/device/corpus.jsonl.xz: .stack/corpus/manifest.jsonl
	$(PY) -m corpus.files --pack $@
device-pack: .stack/device/corpus.jsonl.xz

# Held-out quality against the n-gram baseline and no completion, then serving through Triton;
# one-line infilling scored by running doctests; the assistant tasks' quality (docs/TASKS.md).
evaluate: install corpus
	OPENBLAS_NUM_THREADS=1 $(PY) -m evaluation.evaluate --triton --json .stack/evaluation.json
	OPENBLAS_NUM_THREADS=1 $(PY) -m evaluation.executable
	OPENBLAS_NUM_THREADS=1 $(PY) -m evaluation.evaluate_tasks --json .stack/task_evaluation.json
