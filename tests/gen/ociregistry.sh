# ociregistry.sh: start and stop Debian's docker-registry (distribution
# 2.8) for the OCI tests, on 127.0.0.1 only.  Source it from a test that
# has sourced lib.sh ($T, $PY).
#
#   reg_start NAME [--htpasswd FILE] [--tls CERT KEY [--clientca CA]] [--port P]
#       (--clientca: mutual TLS, clients need a certificate from CA)
#       sets REG_PORT_NAME and REG_PID_NAME; storage in $T/NAME.d
#   reg_stop NAME      kill it (also done at exit for every started one)
#   free_port          an unused TCP port on 127.0.0.1
#   reg_plain          start the registry "plain" (no TLS, no auth) and set
#                      R to its 127.0.0.1:PORT; without docker-registry,
#                      or when it does not start, end the test there
#
# Sourcing it also sets up the test's world: cd $T, a fixed
# SOURCE_DATE_EPOCH, short registry retries, and a HOME and
# XDG_RUNTIME_DIR of the test's own (no credentials of the user's).

cd "$T" || exit 1
export SOURCE_DATE_EPOCH=1700000000 UKIT_OCI_RETRY_MS=20
export HOME=$T/home XDG_RUNTIME_DIR=$T/run
unset REGISTRY_AUTH_FILE DOCKER_CONFIG
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"

_reg_pids=""
trap 'for p in $_reg_pids; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"' EXIT

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

reg_start() {
	local name=$1 port="" htp="" cert="" key="" cca="" i
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--htpasswd) htp=$2; shift 2 ;;
		--tls) cert=$2 key=$3; shift 3 ;;
		--port) port=$2; shift 2 ;;
		--clientca) cca=$2; shift 2 ;;
		*) echo "reg_start: $1?" >&2; return 2 ;;
		esac
	done
	[ -n "$port" ] || port=$(free_port)
	mkdir -p "$T/$name.d"
	{
		printf 'version: 0.1\nlog:\n  level: error\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$T/$name.d"
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
		[ -z "$cert" ] || printf '  tls:\n    certificate: %s\n    key: %s\n' "$cert" "$key"
		[ -z "$cca" ] || printf '    clientcas:\n      - %s\n' "$cca"
		[ -z "$htp" ] || printf 'auth:\n  htpasswd:\n    realm: ukit-test\n    path: %s\n' "$htp"
	} >"$T/$name.yml"
	docker-registry serve "$T/$name.yml" >"$T/$name.log" 2>&1 &
	local pid=$!
	disown "$pid"   # no "Killed" notices from the shell
	_reg_pids="$_reg_pids $pid"
	eval "REG_PORT_$name=$port REG_PID_$name=$pid"
	for i in $(seq 1 100); do
		if "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "reg_start: registry $name did not start:" >&2
	cat "$T/$name.log" >&2
	return 1
}

reg_stop() {
	local pid
	eval "pid=\${REG_PID_$1:-}"
	[ -z "$pid" ] || { kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	return 0
}

reg_plain() {
	if ! command -v docker-registry >/dev/null; then
		missing docker-registry
		done_testing
		exit 0
	fi
	reg_start plain || { not_ok "registry"; done_testing; exit 0; }
	R=127.0.0.1:$REG_PORT_plain
}
