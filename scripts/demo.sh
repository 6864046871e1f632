#!/usr/bin/env bash
# pgdedup demo: six nightly backups of a small "shop" database.
#
# It starts a throwaway PostgreSQL server, creates a sample shop database (a few
# hundred thousand rows), backs it up (night 0), then for nights 1..5 applies a
# night's worth of changes (5% of customers touched, recent orders progressed, new
# orders and events, old events expired) and backs it up again with
#     pgdedup backup --db dbname=shop
# (one consistent snapshot: the schema through pg_dump, each table as its own stream in
# primary-key order). It checks the repository, restores the latest snapshot into a new
# database with `restore --db ... --create`, verifies every table against the original, runs
# a restore drill, and prints what each night cost with pgdedup compared with a nightly
# `pg_dump | gzip`.
#
# Usage: scripts/demo.sh
# Environment:
#   DEMO_SCALE   multiplies the row counts (default 1: ~330k rows, ~30 MB dump)
#   PGDEDUP_BIN  use this pgdedup binary instead of building one
#   KEEP_DEMO=1  keep the work directory (repository, server) for a look afterwards
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=${DEMO_SCALE:-1}

say() { printf '\n==> %s\n' "$*" >&2; }
die() { echo "demo.sh: $*" >&2; exit 1; }

# --- build ----------------------------------------------------------------------
if [[ -n "${PGDEDUP_BIN:-}" ]]; then
  PGDEDUP=$PGDEDUP_BIN
else
  "$ROOT/scripts/install-deps.sh"
  say "building pgdedup"
  PGDEDUP=$("$ROOT/scripts/build.sh")
fi
[[ -x "$PGDEDUP" ]] || die "no pgdedup binary at $PGDEDUP"

# --- work dir, server, cleanup ---------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgdedup-demo.XXXXXX")
REPO=$WORK/repo
cleanup() {
  local rc=$?
  set +e
  "$ROOT/scripts/pg-server.sh" stop "$WORK/pg" >/dev/null 2>&1
  if [[ "${KEEP_DEMO:-0}" == 1 ]]; then
    echo "demo.sh: kept $WORK (start the server again with: scripts/pg-server.sh start $WORK/pg)" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting a throwaway PostgreSQL server in $WORK/pg"
eval "$("$ROOT/scripts/pg-server.sh" start "$WORK/pg")"   # exports PGHOST PGPORT PGUSER

# This is a demo: the repository password is right here in the script. For real
# use, set PGDEDUP_PASSWORD from a secret store or use --password-file.
export PGDEDUP_PASSWORD=demo-password

psql_shop() { psql -X -q -v ON_ERROR_STOP=1 -d shop "$@"; }

TABLES=(customers products orders order_items events)
N_CUSTOMERS=$((20000 * SCALE))
N_PRODUCTS=$((2000 * SCALE))
N_ORDERS=$((60000 * SCALE))
N_EVENTS=$((100000 * SCALE))

# --- the sample database -----------------------------------------------------------
say "creating the shop database (scale $SCALE)"
createdb shop
psql_shop -v n_customers="$N_CUSTOMERS" -v n_products="$N_PRODUCTS" \
          -v n_orders="$N_ORDERS" -v n_events="$N_EVENTS" >/dev/null <<'SQL'
-- Deterministic content: random() is seeded, everything else derives from row numbers.
SELECT setseed(0.42);
\set t0 '2026-11-01 02:00:00'

CREATE TABLE customers (
  id             bigserial PRIMARY KEY,
  email          text NOT NULL UNIQUE,
  full_name      text NOT NULL,
  street         text NOT NULL,
  city           text NOT NULL,
  country        char(2) NOT NULL,
  loyalty_points integer NOT NULL DEFAULT 0,
  created_at     timestamp NOT NULL,
  updated_at     timestamp NOT NULL
);

CREATE TABLE products (
  id          bigserial PRIMARY KEY,
  sku         text NOT NULL UNIQUE,
  name        text NOT NULL,
  description text NOT NULL,
  price_cents integer NOT NULL,
  stock       integer NOT NULL,
  updated_at  timestamp NOT NULL
);

CREATE TABLE orders (
  id               bigserial PRIMARY KEY,
  customer_id      bigint NOT NULL REFERENCES customers (id),
  status           text NOT NULL CHECK (status IN ('new', 'paid', 'shipped', 'delivered', 'cancelled')),
  total_cents      integer NOT NULL DEFAULT 0,
  shipping_address text NOT NULL,
  created_at       timestamp NOT NULL,
  updated_at       timestamp NOT NULL
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);

CREATE TABLE order_items (
  order_id         bigint NOT NULL REFERENCES orders (id),
  line_no          integer NOT NULL,
  product_id       bigint NOT NULL REFERENCES products (id),
  quantity         integer NOT NULL,
  unit_price_cents integer NOT NULL,
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE events (
  id          bigserial PRIMARY KEY,
  customer_id bigint,
  kind        text NOT NULL,
  payload     jsonb NOT NULL,
  created_at  timestamp NOT NULL
);

INSERT INTO customers (email, full_name, street, city, country, loyalty_points, created_at, updated_at)
SELECT 'customer' || g || '@example.com',
       (ARRAY['Anna','Ben','Carla','David','Eva','Felix','Greta','Hugo','Ines','Jonas'])[1 + g % 10]
         || ' ' ||
       (ARRAY['Müller','Schmidt','Schneider','Fischer','Weber','Meyer','Wagner','Becker','Schulz','Hoffmann'])[1 + (g / 10) % 10],
       (1 + g % 250) || ' ' || (ARRAY['Main Street','Oak Avenue','Pine Road','Elm Street','Lake Drive','Hill Lane'])[1 + g % 6],
       (ARRAY['Berlin','Paris','Madrid','Rome','Vienna','Oslo','Lisbon','Prague'])[1 + (g * 7) % 8],
       (ARRAY['DE','FR','ES','IT','AT','NO','PT','CZ'])[1 + (g * 7) % 8],
       (random() * 1000)::int,
       c.t, c.t
FROM generate_series(1, :n_customers) g,
     LATERAL (SELECT date_trunc('second', :'t0'::timestamp - interval '730 days' * (1 - g::float8 / :n_customers)) AS t) c;

INSERT INTO products (sku, name, description, price_cents, stock, updated_at)
SELECT 'SKU-' || lpad(g::text, 6, '0'),
       (ARRAY['Classic','Deluxe','Eco','Mini','Pro','Ultra'])[1 + g % 6] || ' ' ||
       (ARRAY['Mug','Lamp','Chair','Backpack','Kettle','Notebook','Headphones','Blanket'])[1 + (g / 6) % 8] || ' ' || g,
       'A ' || (ARRAY['sturdy','handmade','recycled','compact','premium'])[1 + g % 5] || ' product. ' || md5(g::text) || md5((g * 31)::text),
       199 + (random() * 20000)::int,
       (random() * 500)::int,
       :'t0'::timestamp - interval '90 days'
FROM generate_series(1, :n_products) g;

-- Orders spread over two years; the last three days are still in progress.
INSERT INTO orders (customer_id, status, shipping_address, created_at, updated_at)
SELECT cu, st, (1 + cu % 250) || ' Some Street, ' || (ARRAY['Berlin','Paris','Madrid','Rome'])[1 + cu % 4], t, t
FROM (
  SELECT 1 + (random() * (:n_customers - 1))::bigint AS cu,
         date_trunc('second', :'t0'::timestamp - interval '730 days' * (1 - g::float8 / :n_orders)) AS t,
         random() AS r
  FROM generate_series(1, :n_orders) g
) o,
LATERAL (SELECT CASE
                  WHEN o.t < :'t0'::timestamp - interval '3 days' THEN
                    CASE WHEN o.r < 0.03 THEN 'cancelled' ELSE 'delivered' END
                  ELSE (ARRAY['new', 'paid', 'shipped'])[1 + (o.r * 3)::int % 3]
                END AS st) s;

INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents)
SELECT o.id, l, p.id, 1 + (random() * 3)::int, p.price_cents
FROM orders o
CROSS JOIN LATERAL generate_series(1, 1 + (o.id % 4)::int) l
JOIN products p ON p.id = 1 + ((o.id * 7919 + l * 104729) % :n_products);

UPDATE orders o SET total_cents = s.total
FROM (SELECT order_id, sum(quantity * unit_price_cents) AS total FROM order_items GROUP BY order_id) s
WHERE o.id = s.order_id;

-- Clickstream events of the last 60 days.
INSERT INTO events (customer_id, kind, payload, created_at)
SELECT 1 + (random() * (:n_customers - 1))::bigint,
       (ARRAY['page_view','page_view','page_view','search','add_to_cart','checkout'])[1 + (random() * 5)::int],
       jsonb_build_object('path', '/products/' || (1 + (random() * (:n_products - 1))::int),
                          'session', substr(md5(g::text), 1, 16),
                          'agent', (ARRAY['Firefox/132.0','Chrome/131.0','Safari/18.1'])[1 + g % 3]),
       date_trunc('second', :'t0'::timestamp - interval '60 days' * (1 - g::float8 / :n_events))
FROM generate_series(1, :n_events) g;

VACUUM ANALYZE;
SQL

# One night of changes. $1 = night number (1..5).
apply_night() {
  local night=$1
  psql_shop -v night="$night" -v n_customers="$N_CUSTOMERS" -v n_products="$N_PRODUCTS" \
            -v n_new_orders=$((600 * SCALE)) -v n_new_events=$((5000 * SCALE)) \
            -v n_expire_events=$((4000 * SCALE)) >/dev/null <<'SQL'
SELECT setseed(:night / 10.0);
-- The changes happen during the day before the night's 02:00 backup.
SELECT ('2026-11-01 02:00:00'::timestamp + :night * interval '1 day' - interval '6 hours') AS now_ts \gset

BEGIN;
-- About 5% of the customers, scattered over the table: loyalty points, a few moves.
UPDATE customers
   SET loyalty_points = loyalty_points + 1 + (random() * 50)::int,
       city = CASE WHEN random() < 0.1 THEN (ARRAY['Hamburg','Lyon','Valencia','Milan'])[1 + (random() * 3)::int] ELSE city END,
       updated_at = :'now_ts'
 WHERE random() < 0.05;

-- Stock and the odd price change on ~2% of the products.
UPDATE products
   SET stock = greatest(stock - (random() * 5)::int, 0),
       price_cents = CASE WHEN random() < 0.2 THEN price_cents + 100 ELSE price_cents END,
       updated_at = :'now_ts'
 WHERE random() < 0.02;

-- Recent orders move along: new -> paid -> shipped -> delivered.
UPDATE orders
   SET status = CASE status WHEN 'new' THEN 'paid' WHEN 'paid' THEN 'shipped' ELSE 'delivered' END,
       updated_at = :'now_ts'
 WHERE status IN ('new', 'paid', 'shipped') AND random() < 0.7;

-- New orders with their items (the foreign key is checked at the end of the statement).
WITH new_orders AS (
  INSERT INTO orders (customer_id, status, shipping_address, created_at, updated_at)
  SELECT cu, 'new', (1 + cu % 250) || ' Some Street, Berlin', t, t
  FROM (SELECT 1 + (random() * (:n_customers - 1))::bigint AS cu,
               date_trunc('second', :'now_ts'::timestamp - random() * interval '18 hours') AS t
        FROM generate_series(1, :n_new_orders)) s
  RETURNING id
)
INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents)
SELECT o.id, l, p.id, 1 + (random() * 3)::int, p.price_cents
FROM new_orders o
CROSS JOIN LATERAL generate_series(1, 1 + (o.id % 4)::int) l
JOIN products p ON p.id = 1 + ((o.id * 7919 + l * 104729) % :n_products);

UPDATE orders o SET total_cents = s.total
FROM (SELECT order_id, sum(quantity * unit_price_cents) AS total FROM order_items GROUP BY order_id) s
WHERE o.id = s.order_id AND o.total_cents = 0;

-- Today's clickstream; the oldest events expire.
INSERT INTO events (customer_id, kind, payload, created_at)
SELECT 1 + (random() * (:n_customers - 1))::bigint,
       (ARRAY['page_view','page_view','page_view','search','add_to_cart','checkout'])[1 + (random() * 5)::int],
       jsonb_build_object('path', '/products/' || (1 + (random() * (:n_products - 1))::int),
                          'session', substr(md5((:night * 1000000 + g)::text), 1, 16),
                          'agent', (ARRAY['Firefox/132.0','Chrome/131.0','Safari/18.1'])[1 + g % 3]),
       date_trunc('second', :'now_ts'::timestamp - random() * interval '18 hours')
FROM generate_series(1, :n_new_events) g;

DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT :n_expire_events);
COMMIT;

-- What autovacuum would do overnight: freed space gets reused by tomorrow's rows.
VACUUM ANALYZE;
SQL
}

# --- nightly backups ------------------------------------------------------------------
say "initialising the repository $REPO"
"$PGDEDUP" init --repo "$REPO"

json_field() {  # json_field FILE KEY
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

declare -a N_DATE N_PLAIN N_GZIP N_ADDED N_TOTAL N_SECONDS
for night in 0 1 2 3 4 5; do
  if ((night > 0)); then
    say "night $night: applying the day's changes"
    apply_night "$night"
  fi
  when=$(printf '2026-11-%02d 02:00:00' $((night + 1)))
  say "night $night: backup at $when"
  "$PGDEDUP" backup --repo "$REPO" --db "dbname=shop" --time "$when" --json \
    >"$WORK/backup-$night.json"
  N_DATE[night]=${when% *}
  N_PLAIN[night]=$(pg_dump shop | wc -c)
  N_ADDED[night]=$(json_field "$WORK/backup-$night.json" bytes_added)
  N_SECONDS[night]=$(json_field "$WORK/backup-$night.json" duration_seconds)
  # What the classic nightly `pg_dump | gzip` would have stored.
  N_GZIP[night]=$(pg_dump shop | gzip | wc -c)
  "$PGDEDUP" stats --repo "$REPO" --json >"$WORK/stats-$night.json"
  N_TOTAL[night]=$(json_field "$WORK/stats-$night.json" stored_bytes)
  echo "night $night: pg_dump ${N_PLAIN[night]} bytes, added ${N_ADDED[night]} bytes in ${N_SECONDS[night]} s" >&2
done

# --- check and restore ------------------------------------------------------------------
say "checking the repository (reading all data)"
"$PGDEDUP" repo check --repo "$REPO" --read-data

say "restoring the latest snapshot into shop_restored"
"$PGDEDUP" restore --repo "$REPO" latest --db "dbname=shop_restored" --create

say "verifying every table"
for table in "${TABLES[@]}"; do
  q="SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM $table t"
  a=$(psql -X -A -t -v ON_ERROR_STOP=1 -d shop -c "$q")
  b=$(psql -X -A -t -v ON_ERROR_STOP=1 -d shop_restored -c "$q")
  if [[ "$a" != "$b" ]]; then
    echo "demo.sh: RESTORE MISMATCH in table $table: original [$a], restored [$b]" >&2
    exit 1
  fi
  printf '  %-12s %8s rows  md5 %s  ok\n' "$table" "${a%%|*}" "${a#*|}" >&2
done
q="SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'null'), ' ' ORDER BY sequencename) FROM pg_sequences"
a=$(psql -X -A -t -v ON_ERROR_STOP=1 -d shop -c "$q")
b=$(psql -X -A -t -v ON_ERROR_STOP=1 -d shop_restored -c "$q")
[[ "$a" == "$b" ]] || { echo "demo.sh: RESTORE MISMATCH in sequences: [$a] vs [$b]" >&2; exit 1; }
echo "  sequences    $a  ok" >&2

say "restore drill: restore into a temporary database, verify, time it"
"$PGDEDUP" drill --repo "$REPO" latest --db "dbname=postgres"

# --- report -----------------------------------------------------------------------------
human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

echo
echo "Nightly backups of the shop database (pgdedup vs. pg_dump | gzip):"
echo
printf '%-5s  %-10s  %10s  %14s  %14s  %14s  %14s\n' \
  night date "pg_dump" "gzip'd dump" "added to repo" "repo total" "gzip'd total"
gzip_total=0
for night in 0 1 2 3 4 5; do
  gzip_total=$((gzip_total + N_GZIP[night]))
  printf '%-5s  %-10s  %10s  %14s  %14s  %14s  %14s\n' "$night" "${N_DATE[night]}" \
    "$(human "${N_PLAIN[night]}")" "$(human "${N_GZIP[night]}")" "$(human "${N_ADDED[night]}")" \
    "$(human "${N_TOTAL[night]}")" "$(human "$gzip_total")"
done
echo
echo "(\"gzip'd total\" is what keeping every nightly pg_dump | gzip would take.)"
echo
echo "\$ pgdedup snapshots"
"$PGDEDUP" snapshots --repo "$REPO"
echo
echo "\$ pgdedup stats"
"$PGDEDUP" stats --repo "$REPO"
echo
echo "Restore of the latest snapshot verified table by table."
