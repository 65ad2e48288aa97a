# umapsync: build the library, the binary, the tests, the manual pages.
# `make` builds ./umapsync; `make check` installs what is missing, builds and runs every test.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
DESTDIR ?=

CC ?= cc
BUILD ?= build
BIN ?= umapsync
PKG_CONFIG ?= pkg-config
PKGS := jansson libgit2 libxxhash libcurl libmicrohttpd sqlite3 zlib libcrypto libpq

# pkg-config is asked lazily (=, not :=) so that `make deps` can install the packages
# before the first recipe that needs their flags.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-Wformat=2 -Wno-format-nonliteral -Wvla
ifeq ($(CI),true)
WARNINGS += -Werror
endif
ALL_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARNINGS) -MMD -MP -Ilib -Icmd \
	$(PKG_CFLAGS) $(SAN) $(CFLAGS)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)

# On x86-64 Linux, libgit2, libcurl and libmicrohttpd (and the 30-odd libraries they bring),
# SQLite, libcrypto and zlib are loaded on their first call rather than at start-up, through
# stubs that scripts/lazy-stubs.sh generates (lib/lazyload.c loads them): commands that do
# not use them (diff, validate, merge-file) start without mapping and relocating them, 7 MB
# for the first three; the last three were a further 1.4 ms and 1.3 MB per run (diff of two
# empty layers, 3.0 -> 1.6 ms, hyperfine). LAZY=0 links them as usual.
LAZY ?= 1
LAZY_LIBS := git2 curl microhttpd sqlite3 crypto z pq
ifeq ($(LAZY),1)
ifneq ($(filter x86_64-%linux-gnu,$(shell $(CC) -dumpmachine 2>/dev/null)),)
LAZY_OBJ := $(LAZY_LIBS:%=$(BUILD)/lazy/lazy_%.o)
endif
endif
LIBS = $(filter-out $(if $(LAZY_OBJ),$(LAZY_LIBS:%=-l%)),$(PKG_LIBS)) -lm -lpthread \
	$(if $(LAZY_OBJ),-ldl)
# lib/repo.c's stand-in for mbedTLS's CA loader must be seen by a libgit2 that is dlopen()ed
# (linked as usual, the linker exports it by itself)
BIN_LDFLAGS = -Wl,--export-dynamic-symbol=mbedtls_x509_crt_parse_file

LIB_SRC := $(sort $(wildcard lib/*.c))
CMD_SRC := $(sort $(wildcard cmd/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
MAN_SRC := $(sort $(wildcard man/*.scd))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
# the manual pages as text for `help CMD` where man cannot show them (scripts/man-text.sh)
CMD_OBJ := $(CMD_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/man-text.o
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
MAN_OUT := $(MAN_SRC:man/%.scd=$(BUILD)/man/%)
LIBA := $(BUILD)/libumapsync.a

.PHONY: all check test units deps demo install uninstall asan ubsan valgrind man bench fuzz clean distclean

all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJ) $(LAZY_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/gen/man-text.c: scripts/man-text.sh $(MAN_SRC)
	@mkdir -p $(@D)
	sh scripts/man-text.sh $(MAN_SRC) >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/man-text.o: $(BUILD)/gen/man-text.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/lazy/lazy_%.s: scripts/lazy-stubs.sh
	@mkdir -p $(@D)
	CC="$(CC)" sh scripts/lazy-stubs.sh $* $@

$(BUILD)/lazy/lazy_%.o: $(BUILD)/lazy/lazy_%.s
	$(CC) -c $< -o $@

$(BIN): $(CMD_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $(BIN_LDFLAGS) -o $@ $(CMD_OBJ) $(LIBA) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIBA) $(ALL_LDFLAGS) $(LIBS)

# tests/tools/evilserver: the malicious sync server that tests/bats/hostile.bats talks to
TOOL_BIN := $(BUILD)/tests/tools/evilserver
$(BUILD)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS)

units: $(UNIT_BIN) $(TOOL_BIN)

deps:
	@sh scripts/deps.sh

# check = deps, then a fresh make (so pkg-config sees what deps installed), then the tests.
check: deps
	@$(MAKE) --no-print-directory test

test: $(BIN) units
	@UMAPSYNC="$(abspath $(BIN))" UNIT_DIR="$(abspath $(BUILD)/tests)" sh tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory $(BIN)
	@UMAPSYNC="$(abspath $(BIN))" sh scripts/demo.sh

SAN_FLAGS_asan := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_FLAGS_ubsan := -fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

asan ubsan: deps
	@$(MAKE) --no-print-directory BUILD=build/$@ BIN=build/$@/umapsync CFLAGS="-O1 -g" \
		SAN="$(SAN_FLAGS_$@)" test

valgrind: deps
	@$(MAKE) --no-print-directory units
	@UNIT_DIR="$(abspath $(BUILD)/tests)" UNIT_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
		UMAPSYNC_SKIP_BATS=1 sh tests/run.sh

# fuzz: every tests/fuzz/fuzz_<name>.c as a libFuzzer target (clang), FUZZ_SECONDS each,
# linked with a libumapsync.a built with the fuzz flags in build/fuzz. Only `make fuzz`
# needs clang, so only it asks deps.sh for clang.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
SAN_FLAGS_fuzz := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined

fuzz: deps
	@sh scripts/deps.sh clang libclang-rt-14-dev llvm
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) CFLAGS="-O1 -g" \
		SAN="$(SAN_FLAGS_fuzz)" build/fuzz/libumapsync.a
	@FUZZ_BUILD=build/fuzz FUZZ_CC="$(FUZZ_CC)" FUZZ_SECONDS="$(FUZZ_SECONDS)" \
		FUZZ_CFLAGS="-std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -O1 -g $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		FUZZ_LIBS="$(LIBS)" sh tests/fuzz/run.sh

$(BUILD)/man/%: man/%.scd
	@mkdir -p $(@D)
	scdoc < $< > $@

man: $(MAN_OUT)

bench: deps
	@$(MAKE) --no-print-directory $(BIN)
	@UMAPSYNC="$(abspath $(BIN))" sh bench/run.sh

install: $(BIN) man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(DATADIR)/bash-completion/completions \
		$(DESTDIR)$(DATADIR)/zsh/site-functions \
		$(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/umapsync
	for page in $(MAN_OUT); do install -m 644 $$page $(DESTDIR)$(MANDIR)/man1/$$(basename $$page); done
	install -m 644 completions/umapsync.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/umapsync
	install -m 644 completions/_umapsync $(DESTDIR)$(DATADIR)/zsh/site-functions/_umapsync
	install -m 644 completions/umapsync.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/umapsync.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/umapsync
	rm -f $(MAN_SRC:man/%.scd=$(DESTDIR)$(MANDIR)/man1/%)
	rm -f $(DESTDIR)$(DATADIR)/bash-completion/completions/umapsync
	rm -f $(DESTDIR)$(DATADIR)/zsh/site-functions/_umapsync
	rm -f $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/umapsync.fish

clean:
	rm -rf build $(BIN)

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
