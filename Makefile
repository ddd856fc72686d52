# Thin wrapper over CMake. Quick start:
#   make demo   install what is missing, build, generate demo data once, serve examples/sales
#   make test   install what is missing, build, run every test suite
ROWS ?= 10000000
PORT ?= 8501
HOST ?= 127.0.0.1
BUILD_DIR ?= build
BUILD_TYPE ?= Release
DEMO_DIR := examples/sales
DEMO_DATA := $(DEMO_DIR)/data
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps deps-browser build demo demo-data test container-test bench clean

all: build

deps:
	@scripts/install-deps.sh

# The end-to-end tests and the browser benchmark also need Debian's Chromium.
deps-browser:
	@scripts/install-deps.sh --browser

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) --parallel $(JOBS)

# Generated once per row count: the stamp records what is there.
demo-data: build
	@if [ "$$(cat $(DEMO_DATA)/.rows 2>/dev/null)" != "$(ROWS)" ]; then \
	  $(BUILD_DIR)/sightline demo-data --rows $(ROWS) --out $(DEMO_DATA) && echo $(ROWS) > $(DEMO_DATA)/.rows; \
	else echo "demo data: $(ROWS) rows already in $(DEMO_DATA)"; fi

demo: demo-data
	$(BUILD_DIR)/sightline serve $(DEMO_DIR) --port $(PORT) --host $(HOST)

test: deps-browser build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900 -j $(JOBS)
	scripts/container-test.sh

# The container image alone: build it from a local Debian base and prove it (see deploy/).
container-test: deps-browser
	scripts/container-test.sh

bench: deps-browser build
	bench/run.sh

clean:
	rm -rf $(BUILD_DIR)
