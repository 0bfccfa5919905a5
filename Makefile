# orchd: build, test, install. See README.md.

MAKEFLAGS += --no-print-directory
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CC ?= cc

PKGS := libuv libcurl libcjson libsystemd inih libcrypto
DEBS := build-essential pkg-config libuv1-dev libcurl4-openssl-dev libcjson-dev \
	libsystemd-dev libinih-dev libssl-dev libcmocka-dev openssl python3 procps systemd curl \
	nginx-core python3-prometheus-client mandoc bash-completion socat
CFLAGS ?= -O2 -g
# float-cast-overflow: GCC leaves it out of "undefined"; Orchestrator's numbers are doubles.
SAN_FLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-format-truncation -D_GNU_SOURCE \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

COMMON := common/promtext.c common/util.c common/log.c common/proto.c common/protojson.c common/text.c common/conf.c common/confrules.c common/enc.c \
	common/backoff.c common/scopes.c common/cache.c common/oauth.c common/hist.c common/jobrec.c common/logrec.c common/folder.c \
	common/statefile.c common/termsafe.c common/httphead.c
DAEMON := daemon/delayq.c daemon/budget.c daemon/curluv.c daemon/http.c daemon/auth.c daemon/tokenfile.c daemon/orch.c daemon/upkeep.c daemon/releases.c daemon/relstate.c \
	daemon/settle.c daemon/sweep.c daemon/watch.c daemon/start.c daemon/startwait.c daemon/attach.c daemon/attachrec.c daemon/jobverbs.c daemon/logs.c daemon/enqueue.c daemon/admit.c \
	daemon/stats.c daemon/metrics.c daemon/request.c daemon/listener.c daemon/conn.c daemon/server.c daemon/notify.c daemon/fdlimit.c daemon/access.c daemon/check.c daemon/login.c daemon/main.c
CLI := cli/orchctl.c cli/print.c cli/logs.c
UNIT := $(wildcard tests/unit/test_*.c)
FUZZ := proto conf oauth state jobrec rules httphead logrec
FUZZ_SECONDS ?= 60

COMMON_OBJ := $(COMMON:%.c=$(BUILD)/%.o)
DAEMON_OBJ := $(DAEMON:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT:tests/unit/%.c=$(BUILD)/tests/%)
REPLAY_BIN := $(FUZZ:%=$(BUILD)/fuzz/replay_%)

.PHONY: all deps check check-asan check-valgrind unit integ demo install uninstall clean fuzz soak \
	bench bench-smoke bench-wait bench-queue bench-bigio bench-distant lint-man deb check-deb
all: $(BUILD)/orchd $(BUILD)/orchctl

# The layers, enforced by the include paths: common sees only common, cli
# only common, daemon both.
$(BUILD)/common/%.o: common/%.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icommon -c -o $@ $<

$(BUILD)/daemon/%.o: daemon/%.c $(wildcard common/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icommon -Idaemon -c -o $@ $<

$(BUILD)/cli/%.o: cli/%.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icommon -c -o $@ $<

$(BUILD)/orchd: $(DAEMON_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/orchctl: $(CLI_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icommon $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The daemon's engines with unit tests of their own, on a real loop.
$(BUILD)/tests/test_delayq: tests/unit/test_delayq.c $(BUILD)/daemon/delayq.o $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icommon -Idaemon $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/test_settle: tests/unit/test_settle.c $(BUILD)/daemon/settle.o $(BUILD)/daemon/budget.o \
		$(BUILD)/daemon/delayq.o $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icommon -Idaemon $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Installs the Debian packages that building and testing need, once.
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		rc=$$?; rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi
	@# (policy-rc.d: installing nginx must not start a system nginx; the benchmark runs its own.)

$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icommon $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests, and the fuzz corpus (seeds and past crashes) replayed.
unit: all $(UNIT_BIN) $(REPLAY_BIN)
	@set -e; for t in $(UNIT_BIN); do $$t; done
	@set -e; for t in $(FUZZ); do $(BUILD)/fuzz/replay_$$t tests/fuzz/corpus/$$t/*; done

# Fault injection for the integration tests (LD_PRELOAD): built without the
# sanitizers, which want to come first themselves.
$(BUILD)/tests/faults.so: tests/shim/faults.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

integ: all $(BUILD)/tests/faults.so
	python3 tests/integ/run.py --build $(BUILD) -j 4

# Every test: unit tests, then the integration tests against the fake
# Orchestrator. The last line is the summary "N passed, N failed".
check: deps
	$(MAKE) lint-man
	$(MAKE) unit
	$(MAKE) bench-smoke
	$(MAKE) integ

# The same under AddressSanitizer and UndefinedBehaviorSanitizer.
check-asan: deps
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" unit
	ASAN_OPTIONS=detect_leaks=1 $(MAKE) BUILD=build-asan CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" integ

# libFuzzer (clang): each target for FUZZ_SECONDS, new inputs kept in
# build/fuzz/corpus-T, crashes written to build/fuzz/ (add them to
# tests/fuzz/corpus/T/ once fixed: they become regression tests).
fuzz: deps
	@command -v clang >/dev/null && dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null)
	@mkdir -p build/fuzz
	@set -e; for t in $(FUZZ); do \
		clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Icommon \
			$$(pkg-config --cflags $(PKGS)) -o build/fuzz/fuzz_$$t tests/fuzz/fuzz_$$t.c $(COMMON) \
			$$(pkg-config --libs $(PKGS)); \
		mkdir -p build/fuzz/corpus-$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=build/fuzz/ build/fuzz/corpus-$$t tests/fuzz/corpus/$$t 2>&1 | \
			grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)|ERROR|SUMMARY' ; \
	done

# The benchmark (bench/run.py): nginx upstream, libcurl floor, orchd, the
# script approach; figures to stdout, bench/results/latest.json and a CDF.
bench: deps all
	@command -v gnuplot >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null)
	python3 bench/run.py --build $(BUILD)

# The wait scenario (bench/wait.py): 1,000 jobs waited at once against the
# fake; figures to stdout and bench/results/wait.json.
bench-wait: deps all
	python3 bench/wait.py --build $(BUILD)

# ENQUEUE beside START against the same upstream (bench/queue.py); figures
# to stdout and bench/results/queue.json.
bench-queue: deps all
	python3 bench/queue.py --build $(BUILD)

# A big-input START (50,000 characters: attachment, blob PUT, StartJobs)
# against the libcurl floor making the same three requests
# (bench/bigio.py); figures to stdout and bench/results/bigio.json.
bench-bigio: deps all
	python3 bench/bigio.py --build $(BUILD)

# STARTs against a distant front door (bench/distant.py): RTT 20 ms, idle
# connections closed after 3 s; OLD=path/to/orchd adds a before/after.
bench-distant: deps all
	python3 bench/distant.py $(OLD) $(BUILD)/orchd

# A tiny run of the benchmark harness, so that it does not rot (in check).
bench-smoke: all
	python3 bench/ab.py $(BUILD)/orchd $(BUILD)/orchd --rounds 1 -n 50 -t 500
	python3 bench/run.py --build $(BUILD) --smoke
	python3 bench/wait.py --build $(BUILD) --smoke >/dev/null
	python3 bench/queue.py --build $(BUILD) --smoke >/dev/null
	python3 bench/bigio.py --build $(BUILD) --smoke >/dev/null
	python3 bench/distant.py $(BUILD)/orchd --smoke >/dev/null

# Minutes of triggers under random faults; prints the figures (not in check).
soak: deps all
	python3 tests/soak.py $(BUILD)

# The core integration tests with orchd under valgrind memcheck: any error
# or definite leak fails them.
VALGRIND_TESTS := drain_deadline,a_refused_collection,unknown_ids_among,wait_is_answered,stop_soft,wait_to_successful,first_start,hundred_concurrent,pipelined,sigterm_answers,refresh_token_rotation,lost_answer,client_gone,sighup_reload,check_all_good,login_end,item_successful,queue_rules,duplicate_reference,metrics_parse,journal_fields,drain_after_a_peer,drain_with_every_kind,a_failed_start,a_closed_connection,settling_lookups,denied_answers_name,a_start_to_wait_for,sigterm_answers_a_settling,logs_short,logs_pages,a_logs_waiting,logs_retries,orchctl_start_wait_logs,big_input_goes_as_a_file,big_input_put_failing_once,big_input_put_always,big_input_injected,output_file_read_for,output_file_over_max,sigterm_during_upload,sigterm_during_output,sigterm_drain_deadline_ends,big_input_blob_transfers,sigterm_answers_uploads
check-valgrind: deps all $(BUILD)/tests/faults.so
	@command -v valgrind >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null)
	ORCHD_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect" \
		python3 tests/integ/run.py --build $(BUILD) -j 2 -k $(VALGRIND_TESTS)

demo: deps all
	python3 tests/demo.py --build $(BUILD)

# systemd looks in $(PREFIX)/lib/... for /usr and /usr/local alike.
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR ?= $(PREFIX)/share/doc/orchd
MANDIR ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
MANPAGES := man/orchctl.1 man/orchd.conf.5 man/orchd-protocol.7 man/orchd.8
SYSCONFDIR ?= /etc
INSTALLED := $(PREFIX)/bin/orchd $(PREFIX)/bin/orchctl $(UNITDIR)/orchd.service \
	$(UNITDIR)/orchd.socket $(UNITDIR)/orchd@.service $(UNITDIR)/orchd@.socket \
	$(SYSUSERSDIR)/orchd.conf $(TMPFILESDIR)/orchd.conf \
	$(SYSCONFDIR)/orchd/orchd.conf.example $(DOCDIR)/README.md \
	$(foreach m,$(MANPAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
	$(COMPLETIONDIR)/orchctl

# Installs binaries, units, sysusers and tmpfiles snippets, the example config
# (and the config itself when there is none yet: never overwritten) and docs.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DOCDIR)
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/orchd
	install -m 0755 $(BUILD)/orchd $(BUILD)/orchctl $(DESTDIR)$(PREFIX)/bin/
	sed 's#/usr/local/bin/orchd#$(PREFIX)/bin/orchd#; s#/usr/local/share/doc/orchd#$(DOCDIR)#' \
		systemd/orchd.service > $(DESTDIR)$(UNITDIR)/orchd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/orchd.service
	sed 's#/usr/local/share/doc/orchd#$(DOCDIR)#' systemd/orchd.socket > $(DESTDIR)$(UNITDIR)/orchd.socket
	chmod 0644 $(DESTDIR)$(UNITDIR)/orchd.socket
	sed 's#/usr/local/bin/orchd#$(PREFIX)/bin/orchd#; s#/usr/local/share/doc/orchd#$(DOCDIR)#' \
		systemd/orchd@.service > $(DESTDIR)$(UNITDIR)/orchd@.service
	sed 's#/usr/local/share/doc/orchd#$(DOCDIR)#' systemd/orchd@.socket > $(DESTDIR)$(UNITDIR)/orchd@.socket
	chmod 0644 $(DESTDIR)$(UNITDIR)/orchd@.service $(DESTDIR)$(UNITDIR)/orchd@.socket
	install -m 0644 systemd/orchd.sysusers $(DESTDIR)$(SYSUSERSDIR)/orchd.conf
	install -m 0644 systemd/orchd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/orchd.conf
	install -m 0640 conf/orchd.conf $(DESTDIR)$(SYSCONFDIR)/orchd/orchd.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/orchd/orchd.conf ] || \
		install -m 0640 conf/orchd.conf $(DESTDIR)$(SYSCONFDIR)/orchd/orchd.conf
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	for m in $(MANPAGES); do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -d $(DESTDIR)$(COMPLETIONDIR)
	install -m 0644 completion/orchctl $(DESTDIR)$(COMPLETIONDIR)/orchctl

# Every man page is clean for mandoc's linter (warnings fail).
lint-man:
	mandoc -Tlint -W warning $(MANPAGES)

# Removes what install put there, but not the config or the state.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

# The Debian package (debian/, debhelper): build dependencies installed as
# for make check, the .deb and its .changes in $(BUILD)/deb.
DEB_TOOLS := debhelper dpkg-dev lintian
deb: deps
	@missing=""; for p in $(DEB_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null)
	dpkg-buildpackage -us -uc -b
	mkdir -p $(BUILD)/deb
	rm -f $(BUILD)/deb/orchd*
	mv ../orchd_*.deb ../orchd-dbgsym_*.deb ../orchd_*.changes ../orchd_*.buildinfo $(BUILD)/deb/
	lintian --fail-on error $(BUILD)/deb/orchd_*.changes

# Builds the package, installs it, checks files, units and commands, purges
# it and checks that nothing is left (tests/deb.py). Needs root.
check-deb: deb
	python3 tests/deb.py $(BUILD)/deb

clean:
	rm -rf build build-asan build-deb

# The .deb in Debian 12 booted with its own systemd as PID 1 (systemd-nspawn),
# scenarios in fresh boots (tests/systemd). Needs root; the root tree is made
# once (mmdebstrap, about 100 s) and cached in /var/cache/orchd-nspawn.
.PHONY: check-systemd
check-systemd: deb
	@missing=""; for p in systemd-container mmdebstrap; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $$missing >/dev/null)
	python3 tests/systemd/run.py $(BUILD)/deb
