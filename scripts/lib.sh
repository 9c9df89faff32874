# shellcheck shell=bash
# Shared helpers for scripts/test, scripts/demo and scripts/bench: bring up a private PostgreSQL
# cluster and the local S3-compatible server (s3s-fs), each on a free loopback port.
# Sourced, not run. Everything installed goes to a cache folder outside the clone, reused by
# later runs: ${PIPEWATCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pipewatch}.

PW_CACHE_DIR="${PIPEWATCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pipewatch}"
PW_S3S_VERSION="0.14.1"
PW_S3S_ROOT="$PW_CACHE_DIR/s3s-fs-$PW_S3S_VERSION"
PW_PG_PASSWORD_ROLE="pipewatch_password_role"
PW_PG_PASSWORD="correct-horse-battery"

pw_log() { printf '==> %s\n' "$*" >&2; }
pw_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Prints a free TCP port on 127.0.0.1.
pw_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something listens on 127.0.0.1:$1 (at most $2 seconds, default 30).
pw_wait_port() {
  local port=$1 limit=${2:-30} i
  for ((i = 0; i < limit * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

pw_as_root() { [ "$(id -u)" -eq 0 ]; }

pw_apt_install() {
  pw_as_root || pw_die "missing $*; install it (apt-get install $*) or run this script as root"
  if [ -z "${PW_APT_UPDATED:-}" ]; then
    pw_log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    PW_APT_UPDATED=1
  fi
  pw_log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Sets PW_PG_BIN to the folder holding initdb, pg_ctl and psql, installing PostgreSQL if needed.
pw_find_pg_bin() {
  local candidate
  for candidate in "$(pg_config --bindir 2>/dev/null)" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -n "$candidate" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
      PW_PG_BIN=$candidate
      return 0
    fi
  done
  pw_apt_install postgresql postgresql-client
  PW_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V -r | head -n 1)
  [ -x "$PW_PG_BIN/initdb" ] || pw_die "PostgreSQL was installed but initdb is not in $PW_PG_BIN"
}

# Runs a command as the owner of private clusters: postgres refuses to run as root.
pw_as_pg_owner() {
  if pw_as_root; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Starts a private PostgreSQL cluster in folder $1 on port $2 (initialising it when empty).
# Local connections are trusted, except role $PW_PG_PASSWORD_ROLE, which must give its password
# over TCP (scram-sha-256), so tests can check wrong-password handling. $3 = "fast" turns off
# durability (fsync) for throwaway test clusters.
pw_start_private_pg() {
  local dir=$1 port=$2 mode=${3:-durable}
  pw_find_pg_bin
  mkdir -p "$dir"
  if pw_as_root; then chown postgres: "$dir"; fi
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    pw_as_pg_owner "$PW_PG_BIN/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null \
      || pw_as_pg_owner "$PW_PG_BIN/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null \
      || pw_die "initdb failed in $dir"
    cat >"$dir/pg_hba.conf" <<HBA
local all all trust
host all $PW_PG_PASSWORD_ROLE 127.0.0.1/32 scram-sha-256
host all $PW_PG_PASSWORD_ROLE ::1/128 scram-sha-256
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
HBA
    if pw_as_root; then chown postgres: "$dir/pg_hba.conf"; fi
  fi
  local opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200"
  if [ "$mode" = fast ]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  # PW_PG_ENV: "NAME=value ..." for the server's environment (the alert replay preloads
  # libfaketime to move the server's clock).
  # shellcheck disable=SC2086
  pw_as_pg_owner env ${PW_PG_ENV:-} "$PW_PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null \
    || { tail -n 20 "$dir/server.log" >&2; pw_die "PostgreSQL did not start in $dir (log above)"; }
  PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres "$PW_PG_BIN/psql" -X -q -d postgres -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PW_PG_PASSWORD_ROLE') THEN
    CREATE ROLE $PW_PG_PASSWORD_ROLE LOGIN PASSWORD '$PW_PG_PASSWORD';
  END IF;
END \$\$;
SQL
}

# Makes the certificates of the TLS tests in folder $1 (openssl): a certificate authority
# (ca.crt), the server's certificate for "localhost" signed by it (server.crt/.key), a client
# certificate for user pipewatch_cert (client.crt/.key), and an unrelated authority
# (wrong-ca.crt). Valid two days: made fresh by every test run.
pw_make_test_certs() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=pipewatch test CA" -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=pipewatch wrong CA" -keyout wrong-ca.key -out wrong-ca.crt 2>/dev/null
    openssl req "${ec[@]}" -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.crt 2>/dev/null
    openssl req "${ec[@]}" -subj "/CN=pipewatch_cert" -keyout client.key -out client.csr 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.crt 2>/dev/null
    chmod 600 ./*.key
  ) || pw_die "could not make the test certificates with openssl"
}

# Starts a private PostgreSQL in $1 on port $2 that accepts only TLS connections (hostssl),
# with the certificates of pw_make_test_certs in $3; user pipewatch_cert must present its
# client certificate; database pipewatch_tls.
pw_start_tls_pg() {
  local dir=$1 port=$2 certs=$3
  pw_find_pg_bin
  command -v openssl >/dev/null 2>&1 || pw_apt_install openssl
  pw_make_test_certs "$certs"
  mkdir -p "$dir"
  if pw_as_root; then chown postgres: "$dir"; chown -R postgres: "$certs"; fi
  chmod 700 "$dir"
  pw_as_pg_owner "$PW_PG_BIN/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null \
    || pw_die "initdb failed in $dir"
  cat >"$dir/pg_hba.conf" <<HBA
local all all trust
hostssl all pipewatch_cert 127.0.0.1/32 cert
hostssl all pipewatch_cert ::1/128 cert
hostssl all all 127.0.0.1/32 trust
hostssl all all ::1/128 trust
HBA
  if pw_as_root; then chown postgres: "$dir/pg_hba.conf"; fi
  local opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c ssl=on"
  opts="$opts -c ssl_cert_file=$certs/server.crt -c ssl_key_file=$certs/server.key -c ssl_ca_file=$certs/ca.crt"
  # PW_PG_ENV: "NAME=value ..." for the server's environment (the alert replay preloads
  # libfaketime to move the server's clock).
  # shellcheck disable=SC2086
  pw_as_pg_owner env ${PW_PG_ENV:-} "$PW_PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null \
    || { tail -n 20 "$dir/server.log" >&2; pw_die "the TLS PostgreSQL did not start in $dir (log above)"; }
  "$PW_PG_BIN/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE pipewatch_cert LOGIN" -c "CREATE DATABASE pipewatch_tls OWNER pipewatch_cert" >/dev/null
  # An Airflow 2 metadata database too, for the Airflow side of the TLS tests.
  "$PW_PG_BIN/psql" -X -q -h "$dir" -p "$port" -U postgres -d pipewatch_tls -v ON_ERROR_STOP=1 \
    -f tests/fixtures/airflow/dag_run_airflow2.sql -f tests/fixtures/airflow/task_instance_airflow2.sql \
    -f tests/fixtures/airflow/catalog_airflow2.sql >/dev/null
  # The test user reads the client key: give it to the user running the tests.
  if pw_as_root; then chown root: "$certs"/client.key "$certs"/ca.crt "$certs"/wrong-ca.crt "$certs"/client.crt; fi
}

pw_stop_private_pg() {
  local dir=$1
  [ -n "${PW_PG_BIN:-}" ] && [ -f "$dir/postmaster.pid" ] \
    && pw_as_pg_owner "$PW_PG_BIN/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
}

# Installs s3s-fs into the cache folder unless it is there already (about 3 minutes, once).
pw_ensure_s3s_fs() {
  PW_S3S_BIN="$PW_S3S_ROOT/bin/s3s-fs"
  if [ -x "$PW_S3S_BIN" ]; then return 0; fi
  mkdir -p "$PW_CACHE_DIR"
  pw_log "installing s3s-fs $PW_S3S_VERSION into $PW_S3S_ROOT (once; about 3 minutes)"
  (
    # Two scripts starting at once must not both build into the same folder.
    flock 9
    [ -x "$PW_S3S_BIN" ] || cargo install "s3s-fs@$PW_S3S_VERSION" --features binary --locked --root "$PW_S3S_ROOT" >"$PW_CACHE_DIR/s3s-fs-install.log" 2>&1 \
      || { tail -n 30 "$PW_CACHE_DIR/s3s-fs-install.log" >&2; exit 1; }
  ) 9>"$PW_CACHE_DIR/.s3s-fs.lock" || pw_die "could not install s3s-fs (log above)"
}

# Starts s3s-fs on port $1 serving folder $2 with access key $3 and secret $4; sets PW_S3_PID.
pw_start_s3() {
  local port=$1 data=$2 key=$3 secret=$4
  pw_ensure_s3s_fs
  mkdir -p "$data"
  "$PW_S3S_BIN" --host 127.0.0.1 --port "$port" --access-key "$key" --secret-key "$secret" "$data" \
    >"$data.log" 2>&1 &
  PW_S3_PID=$!
  pw_wait_port "$port" 30 || { cat "$data.log" >&2; pw_die "s3s-fs did not start on port $port"; }
}

# Starts the Prometheus stack of the metrics tests, from Debian's packages (installed if
# missing), on free loopback ports under $1, as plain processes (no root service): a Pushgateway,
# a node_exporter with only its textfile collector (reading $1/textfile), and a Prometheus
# scraping both every second (the Pushgateway with honor_labels, as its documentation asks).
# Sets PW_PUSHGATEWAY_PORT, PW_PROMETHEUS_PORT, PW_TEXTFILE_DIR and PW_PROMETHEUS_PIDS.
pw_start_prometheus_stack() {
  local dir=$1 node_port
  command -v prometheus >/dev/null 2>&1 && command -v prometheus-node-exporter >/dev/null 2>&1 \
    && command -v prometheus-pushgateway >/dev/null 2>&1 \
    || pw_apt_install prometheus prometheus-node-exporter prometheus-pushgateway
  mkdir -p "$dir/textfile" "$dir/tsdb"
  PW_TEXTFILE_DIR="$dir/textfile"
  PW_PUSHGATEWAY_PORT=$(pw_free_port)
  prometheus-pushgateway --web.listen-address="127.0.0.1:$PW_PUSHGATEWAY_PORT" \
    >"$dir/pushgateway.log" 2>&1 &
  PW_PROMETHEUS_PIDS="$!"
  node_port=$(pw_free_port)
  prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory="$PW_TEXTFILE_DIR" \
    >"$dir/node-exporter.log" 2>&1 &
  PW_PROMETHEUS_PIDS="$PW_PROMETHEUS_PIDS $!"
  PW_PROMETHEUS_PORT=$(pw_free_port)
  cat >"$dir/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$node_port']}]
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{targets: ['127.0.0.1:$PW_PUSHGATEWAY_PORT']}]
YAML
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
    --web.listen-address="127.0.0.1:$PW_PROMETHEUS_PORT" >"$dir/prometheus.log" 2>&1 &
  PW_PROMETHEUS_PIDS="$PW_PROMETHEUS_PIDS $!"
  local port
  for port in "$PW_PUSHGATEWAY_PORT" "$node_port" "$PW_PROMETHEUS_PORT"; do
    pw_wait_port "$port" 60 || { tail -n 20 "$dir"/*.log >&2; pw_die "the Prometheus stack did not start (port $port)"; }
  done
}

# Installs maturin (the wheel builder) from PyPI into a cached venv once, and with the argument
# `zig` ziglang too (the linker for an older glibc, about 350 MB: only the release wheel needs
# it); prints the venv's path.
pw_wheel_tools() {
  local venv="$PW_CACHE_DIR/wheel-tools" python=${PYTHON:-python3}
  if [ ! -f "$venv/.pipewatch-complete" ]; then
    pw_log "installing maturin into $venv (once)"
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    "$venv/bin/pip" install -q "maturin>=1.7,<2" >&2 || pw_die "could not install maturin from PyPI"
    touch "$venv/.pipewatch-complete"
  fi
  if [ "${1:-}" = zig ] && [ ! -f "$venv/.pipewatch-zig" ]; then
    pw_log "installing ziglang into $venv (once)"
    "$venv/bin/pip" install -q "ziglang>=0.13,<0.14" >&2 || pw_die "could not install ziglang from PyPI"
    touch "$venv/.pipewatch-zig"
  fi
  printf '%s\n' "$venv"
}

# The user scripts/test creates in each test Airflow.
PW_AIRFLOW_USER="pipewatch"
PW_AIRFLOW_PASSWORD="pipewatch test secret"
# An Airflow 2 user with no permissions (an empty role), for the 403 test.
PW_AIRFLOW_NOACCESS_USER="pipewatch_noaccess"

# Installs apache-airflow==$1 (pinned to the versions of tests/fixtures/airflow's lock file, with
# the PostgreSQL driver) into a cached venv once, and prints the venv's path.
pw_airflow_venv() {
  local version=$1 python=${PYTHON:-python3} pyver venv lock
  pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  venv="$PW_CACHE_DIR/airflow-$version-py$pyver"
  lock="$(dirname "${BASH_SOURCE[0]}")/../tests/fixtures/airflow/requirements-airflow-$version.lock.txt"
  if [ ! -f "$venv/.pipewatch-complete" ]; then
    pw_log "installing apache-airflow==$version into $venv (once; about a minute)"
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    "$venv/bin/pip" install -q --upgrade pip >&2
    local constraint=() drivers=(psycopg2-binary)
    [ -f "$lock" ] && constraint=(-c "$lock")
    case $version in 3.*) drivers+=(asyncpg) ;; esac
    "$venv/bin/pip" install -q "${constraint[@]}" "apache-airflow==$version" "${drivers[@]}" >&2 \
      || pw_die "could not install apache-airflow==$version from PyPI"
    touch "$venv/.pipewatch-complete"
  fi
  printf '%s\n' "$venv"
}

# Starts a real Airflow REST API for the tests: migrates a fresh metadata database $5 on the
# PostgreSQL at 127.0.0.1:$4 (user postgres), creates the test user, serializes the test DAGs,
# and starts the Airflow 2 webserver (/api/v1, basic auth) or the Airflow 3 api-server
# (/api/v2, JWT) of venv $2 on 127.0.0.1:$3, with its home in $6. $1 is the major version.
# PW_AIRFLOW_JWT_SECONDS sets how long Airflow 3's tokens live (default a day).
# Sets PW_AIRFLOW_PID.
# Creates database $4 on the private PostgreSQL at port $3 and makes it an empty Airflow $1
# metadata database (`airflow db migrate` from venv $2; its log in $5/migrate-$4.log), for the
# tests that run a real scheduler against it.
pw_migrate_airflow_db() {
  local major=$1 venv=$2 pg_port=$3 database=$4 logs=$5
  mkdir -p "$logs/home-$database"
  PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres PGOPTIONS='-c client_min_messages=warning' \
    "$PW_PG_BIN/psql" -X -q -d postgres \
    -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database" >/dev/null
  env AIRFLOW_HOME="$logs/home-$database" AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://postgres@127.0.0.1:$pg_port/$database" \
    "$venv/bin/airflow" db migrate >"$logs/migrate-$database.log" 2>&1 \
    || { tail -n 20 "$logs/migrate-$database.log" >&2; pw_die "airflow db migrate of $database failed (Airflow $major)"; }
}

pw_start_airflow_api() {
  local major=$1 venv=$2 port=$3 pg_port=$4 database=$5 home=$6 i
  mkdir -p "$home/dags"
  cp "$(dirname "${BASH_SOURCE[0]}")/../tests/fixtures/airflow/pipewatch_api_test_dags.py" "$home/dags/"
  PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres PGOPTIONS='-c client_min_messages=warning' \
    "$PW_PG_BIN/psql" -X -q -d postgres \
    -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database" >/dev/null
  local env=(AIRFLOW_HOME="$home" AIRFLOW__CORE__LOAD_EXAMPLES=False
    AIRFLOW__CORE__DAGS_FOLDER="$home/dags"
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://postgres@127.0.0.1:$pg_port/$database"
    AIRFLOW__LOGGING__BASE_LOG_FOLDER="$home/logs")
  if [ "$major" = 2 ]; then
    env+=(AIRFLOW__API__AUTH_BACKENDS=airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session
      AIRFLOW__WEBSERVER__WORKERS=1 AIRFLOW__WEBSERVER__SECRET_KEY=pipewatch-test
      AIRFLOW__WEBSERVER__PID="$home/webserver.pid")
  else
    printf '{"%s": "%s"}\n' "$PW_AIRFLOW_USER" "$PW_AIRFLOW_PASSWORD" >"$home/passwords.json"
    env+=(AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$PW_AIRFLOW_USER:admin"
      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$home/passwords.json"
      AIRFLOW__API_AUTH__JWT_SECRET=pipewatch-test-jwt-secret-0123456789abcdef
      AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME="${PW_AIRFLOW_JWT_SECONDS:-86400}"
      AIRFLOW__API__WORKERS=1)
  fi
  env "${env[@]}" "$venv/bin/airflow" db migrate >"$home/migrate.log" 2>&1 \
    || { tail -n 20 "$home/migrate.log" >&2; pw_die "airflow db migrate failed (Airflow $major)"; }
  if [ "$major" = 2 ]; then
    env "${env[@]}" "$venv/bin/airflow" users create -u "$PW_AIRFLOW_USER" -p "$PW_AIRFLOW_PASSWORD" \
      -r Admin -f Pipe -l Watch -e pipewatch@example.com >"$home/user.log" 2>&1 \
      || { tail -n 20 "$home/user.log" >&2; pw_die "airflow users create failed"; }
    # A user whose role grants nothing, for the 403 test (a fresh database has only the Admin
    # role until the webserver syncs the others).
    env "${env[@]}" "$venv/bin/airflow" roles create NoAccess >>"$home/user.log" 2>&1 \
      || { tail -n 20 "$home/user.log" >&2; pw_die "airflow roles create failed"; }
    env "${env[@]}" "$venv/bin/airflow" users create -u "$PW_AIRFLOW_NOACCESS_USER" -p "$PW_AIRFLOW_PASSWORD" \
      -r NoAccess -f No -l Access -e noaccess@example.com >>"$home/user.log" 2>&1 \
      || { tail -n 20 "$home/user.log" >&2; pw_die "airflow users create failed"; }
  fi
  env "${env[@]}" "$venv/bin/airflow" dags reserialize >"$home/reserialize.log" 2>&1 \
    || { tail -n 20 "$home/reserialize.log" >&2; pw_die "airflow dags reserialize failed (Airflow $major)"; }
  if [ "$major" = 2 ]; then
    setsid env "${env[@]}" "$venv/bin/airflow" webserver -H 127.0.0.1 -p "$port" >"$home/server.log" 2>&1 &
  else
    setsid env "${env[@]}" "$venv/bin/airflow" api-server -H 127.0.0.1 -p "$port" >"$home/server.log" 2>&1 &
  fi
  PW_AIRFLOW_PID=$!
  # Stopped by pw_stop_airflow_api; the shell need not report the kill.
  disown "$PW_AIRFLOW_PID"
  local path=/api/v1/version
  [ "$major" = 3 ] && path=/api/v2/version
  for ((i = 0; i < 1200; i++)); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port$path', timeout=2)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$PW_AIRFLOW_PID" 2>/dev/null || { tail -n 30 "$home/server.log" >&2; pw_die "the Airflow $major server exited"; }
    sleep 0.1
  done
  tail -n 30 "$home/server.log" >&2
  pw_die "the Airflow $major server did not answer on port $port within 120 s"
}

# Stops an Airflow server started by pw_start_airflow_api, with its workers (it leads its own
# process group, made by setsid).
pw_stop_airflow_api() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  sleep 1
  kill -KILL -- "-$pid" 2>/dev/null || true
}
