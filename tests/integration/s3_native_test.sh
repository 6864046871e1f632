#!/usr/bin/env bash
# The other commands on an S3 repository (s3rver over https, trusted with --cacert and with
# $PGDEDUP_CACERT): a native backup of a PostgreSQL database (--db), `restore --db --create`
# with the same rows, `drill`, `key add` / `key list` / a second password, `snapshots`; and
# without the CA file a clear certificate error instead of a retry loop.
# shellcheck source=tests/integration/s3_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/s3_lib.sh"

start_s3 --tls
start_pg
REPO=$S3_REPO/native
p() { pgd --repo "$REPO" --cacert "$S3_CACERT" --cache-dir "$TEST_TMP/cache" "$@"; }

run_t 60 createdb shop
psql_q shop "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, city text);
             INSERT INTO customers SELECT g, 'customer ' || g, (ARRAY['Oslo','Rome','Lyon'])[1 + g % 3]
               FROM generate_series(1, 20000) g;
             CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers,
                                  total numeric(10,2));
             INSERT INTO orders (customer_id, total) SELECT 1 + g % 20000, g / 7.0
               FROM generate_series(1, 50000) g;" >/dev/null

# Without the CA file the certificate is refused at once, with a message that says so.
start=$SECONDS
assert_exit 1 pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache" init
assert_contains "$LAST_STDERR" "certificate" "an untrusted certificate"
((SECONDS - start < 10)) || fail "an untrusted certificate took $((SECONDS - start))s: retried?"

assert_exit 0 p init
assert_exit 0 p backup --db "$(pg_conninfo shop)" --json
assert_eq "$(json_get "$LAST_STDOUT" 'd["backend"]["puts"] >= 3')" True "backup --db --json counts requests"
psql_q shop "UPDATE customers SET city = 'Bergen' WHERE id % 50 = 0" >/dev/null
assert_exit 0 p backup --db "$(pg_conninfo shop)"

# $PGDEDUP_CACERT instead of --cacert.
export PGDEDUP_CACERT=$S3_CACERT
assert_exit 0 pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache2" restore latest \
  --db "$(pg_conninfo shop_restored)" --create
for q in "SELECT count(*), sum(id), string_agg(city, ',' ORDER BY id) FROM customers" \
         "SELECT count(*), sum(total), sum(customer_id) FROM orders"; do
  assert_eq "$(psql_q shop_restored "$q" | md5sum)" "$(psql_q shop "$q" | md5sum)" "restored rows: $q"
done
assert_exit 0 pgd --repo "$REPO" --cache-dir "$TEST_TMP/cache2" drill latest --db "$(pg_conninfo postgres)"

# Keys: a second password opens the repository on S3 too.
assert_exit 0 env PGDEDUP_NEW_PASSWORD=second-password "$PGDEDUP_BIN" --repo "$REPO" key add
assert_exit 0 pgd --repo "$REPO" key list --json
assert_eq "$(json_get "$LAST_STDOUT" 'len(d)')" 2 "key list on S3"
assert_exit 0 env PGDEDUP_PASSWORD=second-password "$PGDEDUP_BIN" --repo "$REPO" snapshots --json
assert_eq "$(json_get "$LAST_STDOUT" 'len(d)')" 2 "snapshots with the second password"
assert_exit 0 pgd --repo "$REPO" repo check

pass
