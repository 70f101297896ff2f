# Shared by the scripts that run a real `parlor` process (end-to-end tests, benchmarks).
# Source it; it defines functions only.

# The cargo target directory (honours CARGO_TARGET_DIR).
parlor_target_dir() {
    cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_parlor BIN DATA_DIR PORT [VAR=value …]
# Starts `BIN serve` on 127.0.0.1:PORT with DATA_DIR and the extra environment, waits until
# /healthz answers, and sets PARLOR_PID. Output goes to DATA_DIR/server.log, printed on failure.
start_parlor() {
    local bin=$1 data_dir=$2 port=$3
    shift 3
    env PARLOR_BIND="127.0.0.1:$port" PARLOR_DATA_DIR="$data_dir" PARLOR_CONFIG=/nonexistent.toml "$@" \
        "$bin" serve >"$data_dir/server.log" 2>&1 &
    PARLOR_PID=$!
    for _ in $(seq 1 100); do
        # Up once it answers at all: a full server (503 server_full) has started too.
        [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" 2>/dev/null) != 000 ]] && return 0
        kill -0 "$PARLOR_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "parlor did not start:" >&2
    cat "$data_dir/server.log" >&2
    return 1
}

# stop_parlor: ends the server started by start_parlor.
stop_parlor() {
    [[ -n ${PARLOR_PID:-} ]] || return 0
    kill "$PARLOR_PID" 2>/dev/null || true
    wait "$PARLOR_PID" 2>/dev/null || true
}

# wait_gone PID: returns once the process has exited (gone, or a zombie its parent has yet to
# reap), whoever its parent is.
wait_gone() {
    while [[ -e /proc/$1 && $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; do sleep 0.05; done
}

# ensure_e2e_venv TARGET_DIR: prints the path of the end-to-end tests' Python virtualenv,
# (re)installing it beside the build when e2e/requirements.txt changes.
ensure_e2e_venv() {
    local venv="$1/e2e-venv"
    local stamp="$venv/.requirements.sha256"
    local want
    want=$(sha256sum e2e/requirements.txt | cut -d' ' -f1)
    if [[ ! -x $venv/bin/python || $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
        if ! python3 -m venv "$venv" 2>/dev/null; then
            # Debian and Ubuntu ship venv separately.
            if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
                apt-get update -qq >&2 && apt-get install -y -qq python3-venv >/dev/null
                python3 -m venv "$venv"
            else
                echo "python3 cannot create a virtualenv: install python3-venv (Debian/Ubuntu)" >&2
                return 1
            fi
        fi
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r e2e/requirements.txt >&2
        echo "$want" >"$stamp"
    fi
    echo "$venv"
}

# reachable HOST PORT: whether something listens there.
reachable() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# ensure_command COMMAND DEBIAN_PACKAGE…: installs the packages with apt when COMMAND is missing
# (as root on Debian/Ubuntu), or says what to install.
ensure_command() {
    local command=$1
    shift
    command -v "$command" >/dev/null && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "== installing $* (for $command)" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "$command is needed: install $* (Debian/Ubuntu package names)" >&2
        return 1
    fi
}

# ensure_node_modules: installs e2e/node's packages from its lock file when it changes.
ensure_node_modules() {
    ensure_command node nodejs npm
    ensure_command npm npm
    local stamp=e2e/node/node_modules/.package-lock.sha256 want
    want=$(sha256sum e2e/node/package-lock.json | cut -d' ' -f1)
    if [[ $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
        (cd e2e/node && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" >"$stamp"
    fi
}

# nginx_conf DIR SITE_CONF [SED_EXPRESSION…]: writes DIR/nginx.conf, the main configuration of an
# nginx of its own (pid file, temporary files and access log under DIR, errors to standard error)
# whose one site is SITE_CONF, rewritten by the sed expressions into DIR/site.conf. Start it with
# `nginx -c DIR/nginx.conf`.
nginx_conf() {
    local dir=$1 site=$2
    shift 2
    local sed_args=(-e "") expression
    for expression in "$@"; do sed_args+=(-e "$expression"); done
    mkdir -p "$dir"
    # Workers run as nobody when the master is root: they must reach their temporary files.
    chmod 755 "$dir"
    sed "${sed_args[@]}" "$site" >"$dir/site.conf"
    cat >"$dir/nginx.conf" <<CONF
pid $dir/nginx.pid;
error_log stderr;
events {}
http {
    include /etc/nginx/mime.types;
    access_log $dir/access.log;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/site.conf;
}
CONF
}
