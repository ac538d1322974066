# ukit: one Makefile, no configure step.  Sources are discovered by
# wildcard: formats/*.c -> libukit.a, TOOL/*.c -> ukit-TOOL,
# tests/unit/test_*.c -> one cmocka binary each, tests/fuzz/fuzz_*.c -> one
# libFuzzer harness each, tests/e2e/t*.sh -> end-to-end scripts.
#
#   make                 build into $(BUILD) (default build/)
#   make check           deps, build, unit + e2e tests, then both again
#                        under ASan+UBSan (SAN=1, in build-san/)
#   make demo            the main job on a built-in example
#   make fuzz            each libFuzzer harness for FUZZ_SECONDS (60)
#   make install PREFIX=/usr/local   (+ install-compat: solo5-elftool link)

VERSION  = 0.1.0
PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?=
BUILD   ?= build
FUZZBUILD ?= build-fuzz

CC      ?= cc
MAKEFLAGS += --no-print-directory
PKGS     = libelf jansson libcrypto libqcow zlib libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     = -Wall -Wextra -Wshadow -Wformat=2 -Wno-format-nonliteral \
           -Wmissing-prototypes -Wstrict-prototypes -Wvla
CFLAGS  ?= -g -O2
CFLAGS  += -std=c11 -D_GNU_SOURCE -DUKIT_VERSION='"$(VERSION)"' $(WARN) \
           -Iformats -Icli $(PKG_CFLAGS) -MMD -MP -pthread
LDFLAGS += -pthread
LDLIBS  += $(PKG_LIBS) -lpthread
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
# A sanitizer report exits 86, never 1 (an expected refusal) or 0, so that
# expect_fail 1 cannot pass on a memory error; leaks count as errors.
export ASAN_OPTIONS := detect_leaks=1$(if $(ASAN_OPTIONS),:$(ASAN_OPTIONS)):exitcode=86
export UBSAN_OPTIONS := print_stacktrace=1$(if $(UBSAN_OPTIONS),:$(UBSAN_OPTIONS)):halt_on_error=1:exitcode=86
endif

LIB_SRC   := $(sort $(wildcard formats/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/lib/libukit.a
CLI_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard cli/*.c))
TOOLS     := $(sort $(foreach t,elftool pack sign,$(if $(wildcard $(t)/*.c),$(t))))
BINS      := $(TOOLS:%=$(BUILD)/bin/ukit-%)
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
E2E       := $(sort $(wildcard tests/e2e/t*.sh))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZBUILD)/%)
MANS      := $(wildcard $(TOOLS:%=%/*.1))

.PHONY: all deps check test unit e2e demo fuzz fuzz-build lint install \
        install-compat clean
.DELETE_ON_ERROR:
.SECONDARY:

all: $(LIB) $(BINS) $(BUILD)/lib/ukit.pc

deps:
	@sh tests/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

define TOOL_RULE
$(BUILD)/bin/ukit-$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c)) $(CLI_OBJ) $(LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIB) $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call TOOL_RULE,$(t))))

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/lib/ukit.pc: Makefile
	@mkdir -p $(@D)
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include/ukit\n\nName: ukit\nDescription: unikernel image toolkit library\nVersion: %s\nRequires.private: %s\nLibs: -L$${libdir} -lukit\nCflags: -I$${includedir}\n' \
		'$(PREFIX)' '$(VERSION)' '$(PKGS)' > $@

unit: $(UNIT_BINS)
	@CHECK_COUNTS=$(CHECK_COUNTS) sh tests/run-tests.sh unit $(UNIT_BINS)

e2e: all
	@CHECK_COUNTS=$(CHECK_COUNTS) UKIT_BIN=$(CURDIR)/$(BUILD)/bin sh tests/run-tests.sh e2e $(E2E)

test: unit e2e

# Every suite appends "passed failed skipped" to $(COUNTS); the last line
# of make check totals them.
COUNTS = $(CURDIR)/$(BUILD)/check-counts
check: deps
	@mkdir -p $(BUILD) && rm -f $(COUNTS)
	$(MAKE) all
	$(MAKE) lint
	$(MAKE) CHECK_COUNTS=$(COUNTS) unit e2e
	$(MAKE) SAN=1 BUILD=$(BUILD)-san CHECK_COUNTS=$(COUNTS) unit e2e
	@awk '{ p += $$1; f += $$2; s += $$3 } END { printf "check: %d passed, %d failed, %d skipped\n", p, f, s }' $(COUNTS)

# deps first, then a sub-make: the pkg-config flags above are read when a
# make starts, so they must be read after deps has installed the packages.
demo: deps
	@$(MAKE) all
	@UKIT_BIN=$(CURDIR)/$(BUILD)/bin sh tests/demo.sh

lint:
	@if [ -n "$(MANS)" ]; then mandoc -Tlint -Wwarning $(MANS) && echo "lint: man pages clean"; fi

# The mutation check: each named condition in formats/ broken in a copy of
# the tree must fail a test (tests/mutate.sh; slow, not part of check).
.PHONY: mutate
mutate:
	@bash tests/mutate.sh $(MUTANTS)

# libFuzzer harnesses: clang, ASan+UBSan, the library compiled alongside.
FUZZ_CFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -DUKIT_VERSION='"$(VERSION)"' \
              -Iformats $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 60
$(FUZZBUILD)/%: tests/fuzz/%.c $(LIB_SRC) $(wildcard formats/*.h)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	@$(MAKE) fuzz-build
	@FUZZBUILD=$(FUZZBUILD) sh tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/ukit $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/lib/ukit.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 formats/*.h $(DESTDIR)$(PREFIX)/include/ukit/
	$(if $(MANS),install -m 644 $(MANS) $(DESTDIR)$(PREFIX)/share/man/man1/)

install-compat: install
	ln -sf ukit-elftool $(DESTDIR)$(PREFIX)/bin/solo5-elftool

clean:
	rm -rf $(BUILD) $(BUILD)-san $(FUZZBUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
