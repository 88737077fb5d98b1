# Top-level entry points. The real build is CMake in build/.
#   make demo   install missing packages, build, run the demo under scry
#   make test   install missing packages, build, run the whole test suite
#   make        build everything into build/
#   make asan   build and test with AddressSanitizer + UBSan in build-asan/
PREFIX ?= /usr/local
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test asan install format bench clean

all: build

deps:
	@sh scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: deps build
	@rm -rf $(BUILD)/demo-out
	$(BUILD)/scry run -p cpu,heap -o $(BUILD)/demo-out -- $(BUILD)/examples/demo
	@echo
	$(BUILD)/scry top -n 12 $(BUILD)/demo-out/cpu.pb.gz
	@echo
	@echo "profiles written to $(BUILD)/demo-out/ (open one with: go tool pprof -http=: $(BUILD)/demo-out/cpu.pb.gz)"

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300
	$(MAKE) --no-print-directory asan

asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSCRY_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 300 -L sanitize

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

bench: build
	bench/cpu.sh

clean:
	rm -rf $(BUILD) build-asan
