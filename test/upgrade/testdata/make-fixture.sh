#!/bin/sh
# make-fixture.sh regenerates v0291826.tar.gz, the data directory of a
# Tongxing made by the release before officers (commit 0291826), which
# TestUpgrade starts under the current code.
#
# It builds commit 0291826 from this repository's history, runs its
# zero-configuration `serve` on a free loopback port, and, as an operator of
# that version would, creates an enterprise-sign enrolment code with the
# admin token, requests an e-cert dual pair (the KMC escrows its encryption
# key under the raw DATA/secrets/kmc-master.key), adds a sign-on account and
# stops the server. The archive holds tongxing-data/ (database, keys,
# secrets including the generated passphrase and the admin token) and
# ecert/ (the subscriber's pair, to compare a recovered key with).
#
# Everything in it is test material made for this purpose: the passphrase,
# tokens and keys protect nothing else.
#
# Needs git (with the commit in its history), go, curl and tar. Run it from
# anywhere: sh test/upgrade/testdata/make-fixture.sh
set -eu
commit=0291826
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir "$work/src" "$work/run"
git -C "$repo" archive "$commit" | tar -x -C "$work/src"
(cd "$work/src" && go build -o "$work/tongxing" ./cmd/tongxing)
bin=$work/tongxing
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=https://localhost:$port
# The public URL names the audit log (origin localhost:8443/audit in its
# checkpoints); TestUpgrade serves the directory under the same one.
public=https://localhost:8443

cd "$work/run"
TONGXING_KEY_PASSPHRASE= "$bin" serve --listen "127.0.0.1:$port" --public-url "$public" >serve.log 2>&1 &
pid=$!
i=0
until curl -fsS --cacert tongxing-data/pki/intl-root.crt "$url/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -gt 600 ]; then cat serve.log; exit 1; fi
	sleep 0.2
done

out=$("$bin" ca enrol-code --server "$url" --profile enterprise-sign \
	--organization 示例科技有限公司 --uscc 91350100M000100Y43 --name 李四 --json)
code=$(printf '%s' "$out" | sed -n 's/.*"code": *"\([^"]*\)".*/\1/p')
test -n "$code"
TONGXING_KEY_PASSPHRASE= "$bin" ca request --server "$url" --profile enterprise --dual --code "$code" --out ecert
printf '%s' 'correct horse battery staple' | TONGXING_KEY_PASSPHRASE= "$bin" users add zhangsan --password-stdin --name 张三

kill -TERM "$pid"
wait "$pid" || true
pid=
test -f tongxing-data/secrets/kmc-master.key
test -f tongxing-data/secrets/admin-token
rm -f tongxing-data/tongxing.db-shm tongxing-data/tongxing.db-wal
tar --sort=name --owner=0 --group=0 --numeric-owner -czf "$here/v0291826.tar.gz" tongxing-data ecert
echo "wrote $here/v0291826.tar.gz"
