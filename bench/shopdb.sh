#!/usr/bin/env bash
# A deterministic "shop" database with one day of changes per night, for benchmarks.
#
# Usage:
#   bench/shopdb.sh create CONNINFO [SCALE]   fill an existing, empty database (default SCALE 15)
#   bench/shopdb.sh churn CONNINFO NIGHT      apply night NIGHT's changes (NIGHT = 1, 2, ...)
#   bench/shopdb.sh rows CONNINFO DIR         write every table's rows, sorted, to DIR/<table>.rows
#   bench/shopdb.sh changed DIR_BEFORE DIR_AFTER
#                                             print the rows that really changed between two `rows`
#   bench/shopdb.sh tables                    list the tables
#
# CONNINFO is a libpq conninfo or URL (the usual PG* variables apply), e.g. "dbname=shop".
#
# create: six related tables with realistic text (names, e-mail addresses, phone numbers,
#   postal addresses, JSON payloads, timestamps, numerics):
#     customers (8,000 x SCALE), products (500 x SCALE), orders (24,000 x SCALE, two years),
#     order_items (~2.5 per order), events (40,000 x SCALE, a 30-day click stream, jsonb),
#     audit_log (10,000 x SCALE; no primary key, append-only).
#   SCALE 1 is ~20 MB of plain pg_dump, SCALE 15 ~300 MB; the size is linear in SCALE.
#   Content is deterministic: random() is seeded (setseed) and parallel query is off.
# churn: one day of changes, deterministic for a given NIGHT (rows are chosen by a hash of
#   their key and the night, not by physical order):
#     ~5% of customers updated, scattered over the key range (loyalty points; some phone
#     numbers, addresses, opt-ins); stock of ~5% and price of ~1% of the products;
#     the recent orders move along (new -> paid -> shipped -> delivered, a few cancelled);
#     1% new orders with their items; 1,500 x SCALE new events and the oldest
#     1,300 x SCALE expired (deleted); one audit_log row per change. Then VACUUM ANALYZE
#     (what autovacuum would do overnight; for byte-identical runs, turn autovacuum off on
#     the server, as the bench scripts do, so that physical row order is reproducible).
# rows/changed: `rows` copies each table (COPY text format, LC_ALL=C sorted) into DIR;
#   `changed` prints, table by table, the rows of AFTER that are not in BEFORE (inserted rows
#   "+<row>", changed rows "~<row>") and the keys of the rows that were deleted ("-<key>"). Its output
#   compressed with `zstd -19` is "what really changed" that night. Counts go to stderr.
set -euo pipefail

PROG=shopdb.sh
TABLES=(customers products orders order_items events audit_log)
# Number of leading key columns of each table in its COPY output (0: no key).
declare -A KEY_COLUMNS=([customers]=1 [products]=1 [orders]=1 [order_items]=2 [events]=1 [audit_log]=0)

die() { echo "$PROG: $*" >&2; exit 1; }
usage() { sed -n '2,11p' "$0" >&2; exit 2; }

run_psql() {  # run_psql CONNINFO [psql args...]  (SQL on stdin)
  local conninfo=$1; shift
  psql -X -q -v ON_ERROR_STOP=1 -d "$conninfo" "$@" >/dev/null
}

# SQL shared by create and churn: word lists and two helpers in pg_temp (so that nothing of
# the generator ends up in the database or its dumps).
COMMON_SQL=$(cat <<'SQL'
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
SET TimeZone = 'UTC';
-- pg_temp.pick(list, r): the element of list at the fraction r in [0, 1).
CREATE FUNCTION pg_temp.pick(list text[], r float8) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$ SELECT list[1 + floor(r * array_length(list, 1))::int] $$;
-- u(key, salt): a uniform number in [0, 1) from a key and a salt, independent of row order.
CREATE FUNCTION pg_temp.u(k bigint, salt int) RETURNS float8
  LANGUAGE sql IMMUTABLE AS $$ SELECT (hashint8(k * 1000003 + salt) & 2147483647)::float8 / 2147483648.0 $$;
\set first_names '{Anna,Ben,Carla,David,Eva,Felix,Greta,Hugo,Ines,Jonas,Klara,Lukas,Mia,Noah,Olivia,Paul,Quentin,Rosa,Simon,Tara,Ugo,Vera,William,Xenia,Yusuf,Zoe,Amelie,Bruno,Chiara,Dmitri,Elif,Farid,Giulia,Hannah,Ivan,Julia,Kenji,Lena,Marco,Nora}'
\set last_names '{Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Schulz,Hoffmann,Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,García,Fernández,González,Rodríguez,López,Rossi,Russo,Ferrari,Esposito,Bianchi,Novák,Svoboda,Nielsen,Jensen,Hansen,Johansson,Kowalski,Nowak,Silva,Santos}'
\set domains '{example.com,mail.example.org,post.example.net,shop-mail.example,inbox.example.de,webmail.example.fr}'
\set streets '{Main Street,Oak Avenue,Pine Road,Elm Street,Lake Drive,Hill Lane,Station Road,Church Street,Mill Lane,Park Avenue,Bahnhofstraße,Rue de la Paix,Calle Mayor,Via Roma,Kongens Gate,Rynek}'
\set cities '{Berlin,Hamburg,Munich,Paris,Lyon,Marseille,Madrid,Valencia,Rome,Milan,Vienna,Oslo,Copenhagen,Lisbon,Prague,Warsaw,Amsterdam,Brussels}'
\set countries '{DE,DE,DE,FR,FR,FR,ES,ES,IT,IT,AT,NO,DK,PT,CZ,PL,NL,BE}'
\set adjectives '{Classic,Deluxe,Eco,Mini,Pro,Ultra,Smart,Vintage,Urban,Outdoor,Compact,Premium}'
\set nouns '{Mug,Lamp,Chair,Backpack,Kettle,Notebook,Headphones,Blanket,Desk,Bottle,Jacket,Speaker,Pan,Umbrella,Watch,Tent}'
\set categories '{kitchen,home,office,outdoor,audio,apparel,travel,garden}'
\set words '{sturdy,handmade,recycled,compact,premium,durable,lightweight,waterproof,elegant,ergonomic,stainless,steel,oak,cotton,wool,ceramic,glass,bamboo,with,and,for,every,day,use,easy,to,clean,fits,in,any,bag,designed,in,Berlin,made,from,certified,materials,warranty,two,years,colour,black,white,grey,blue,green,red,dishwasher,safe,gift,box,included}'
\set agents '{Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0,Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML like Gecko) Chrome/131.0 Safari/537.36,Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML like Gecko) Version/18.1 Mobile/15E148 Safari/604.1,Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML like Gecko) Version/18.1 Safari/605.1.15}'
\set kinds '{page_view,page_view,page_view,page_view,search,search,add_to_cart,remove_from_cart,checkout,login}'
\set referrers '{https://www.example-search.com/,https://social.example/feed,newsletter,direct,direct,https://blog.example.org/gift-ideas}'
\set notes '{Please leave at the back door,Gift wrap please,Call before delivery,Deliver to the neighbour if absent,No plastic packaging}'
\set t0 '2026-11-01 02:00:00+00'
SQL
)

cmd_create() {
  local conninfo=$1 scale=$2
  [[ "$scale" =~ ^[1-9][0-9]*$ ]] || die "SCALE must be a positive integer, not '$scale'"
  echo "$PROG: creating the shop tables (scale $scale)" >&2
  {
    echo "$COMMON_SQL"
    cat <<'SQL'
SELECT setseed(0.42);

CREATE TABLE customers (
  id               bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
  email            text NOT NULL,
  full_name        text NOT NULL,
  phone            text,
  street           text NOT NULL,
  postal_code      text NOT NULL,
  city             text NOT NULL,
  country          char(2) NOT NULL,
  birth_date       date,
  marketing_opt_in boolean NOT NULL,
  loyalty_points   integer NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);

CREATE TABLE products (
  id          bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
  sku         text NOT NULL UNIQUE,
  name        text NOT NULL,
  category    text NOT NULL,
  description text NOT NULL,
  price       numeric(10, 2) NOT NULL,
  stock       integer NOT NULL,
  attributes  jsonb NOT NULL,
  updated_at  timestamptz NOT NULL
);

CREATE TABLE orders (
  id               bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
  customer_id      bigint NOT NULL,
  status           text NOT NULL,
  currency         char(3) NOT NULL,
  total            numeric(12, 2) NOT NULL,
  shipping_address text NOT NULL,
  note             text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);

CREATE TABLE order_items (
  order_id   bigint NOT NULL,
  line_no    smallint NOT NULL,
  product_id bigint NOT NULL,
  quantity   integer NOT NULL,
  unit_price numeric(10, 2) NOT NULL,
  discount   numeric(4, 2) NOT NULL,
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE events (
  id          bigint PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
  customer_id bigint,
  kind        text NOT NULL,
  payload     jsonb NOT NULL,
  created_at  timestamptz NOT NULL
);

-- Append-only, and (like many such tables) without a primary key.
CREATE TABLE audit_log (
  logged_at timestamptz NOT NULL,
  actor     text NOT NULL,
  action    text NOT NULL,
  entity    text NOT NULL,
  entity_id bigint NOT NULL,
  detail    text NOT NULL
);

INSERT INTO customers (id, email, full_name, phone, street, postal_code, city, country, birth_date,
                       marketing_opt_in, loyalty_points, created_at, updated_at)
SELECT g,
       lower(translate(f, 'üéáíóúñčřšžåøæ', 'ueaiouncrszaoa')) || '.' || lower(translate(l, 'üéáíóúñčřšžåøæ', 'ueaiouncrszaoa'))
         || (g % 1000) || '@' || pg_temp.pick(:'domains', r3),
       f || ' ' || l,
       CASE WHEN r4 < 0.9 THEN '+' || (30 + floor(r4 * 20)::int) || ' ' || (100 + floor(r5 * 900)::int) || ' '
                               || lpad(floor(r6 * 10000000)::int::text, 7, '0') END,
       pg_temp.pick(:'streets', r7) || ' ' || (1 + floor(r8 * 240)::int),
       lpad(floor(r9 * 99999)::int::text, 5, '0'),
       pg_temp.pick(:'cities', r10), pg_temp.pick(:'countries', r10),
       CASE WHEN r11 < 0.8 THEN date '1950-01-01' + floor(r11 / 0.8 * 20000)::int END,
       r12 < 0.35,
       floor(r12 * r13 * 5000)::int,
       c, date_trunc('second', c + (r13 * (:'t0'::timestamptz - c)))
FROM (SELECT g, pg_temp.pick(:'first_names', random()) AS f, pg_temp.pick(:'last_names', random()) AS l,
             random() AS r3, random() AS r4, random() AS r5, random() AS r6, random() AS r7,
             random() AS r8, random() AS r9, random() AS r10, random() AS r11, random() AS r12,
             random() AS r13,
             date_trunc('second', :'t0'::timestamptz - interval '1095 days' * (1 - g::float8 / :nc)) AS c
      FROM generate_series(1, :nc) g) s;

INSERT INTO products (id, sku, name, category, description, price, stock, attributes, updated_at)
SELECT g,
       'SKU-' || upper(substr(pg_temp.pick(:'categories', r1), 1, 3)) || '-' || lpad(g::text, 6, '0'),
       pg_temp.pick(:'adjectives', r2) || ' ' || pg_temp.pick(:'nouns', r3) || ' ' || (100 + g % 900),
       pg_temp.pick(:'categories', r1),
       (SELECT upper(substr(d, 1, 1)) || substr(d, 2) || '.'
          FROM (SELECT string_agg(pg_temp.pick(:'words', random()), ' ') AS d
                  FROM generate_series(1, 14 + g % 19)) w),
       round((2 + r4 * r4 * 400)::numeric, 2) - 0.01,
       floor(r5 * 500)::int,
       jsonb_build_object('weight_g', 50 + floor(r6 * 5000)::int,
                          'colour', pg_temp.pick('{black,white,grey,blue,green,red,natural}', r7),
                          'dimensions_cm', jsonb_build_array(5 + floor(r8 * 60)::int, 5 + floor(r9 * 40)::int, 2 + floor(r10 * 30)::int),
                          'origin', pg_temp.pick(:'countries', r11)),
       date_trunc('second', :'t0'::timestamptz - interval '200 days' * r12)
FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
             random() AS r6, random() AS r7, random() AS r8, random() AS r9, random() AS r10,
             random() AS r11, random() AS r12
      FROM generate_series(1, :np) g) s;

-- Items first (lines 1..4 per order, products chosen by a hash), so that each order is
-- written once with its total.
INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price, discount)
SELECT o, l, p.id, 1 + floor(pg_temp.u(o * 8 + l, 2) * pg_temp.u(o * 8 + l, 3) * 5)::int, p.price,
       CASE WHEN pg_temp.u(o * 8 + l, 4) < 0.15 THEN 0.10 ELSE 0 END
FROM generate_series(1, :no) o
CROSS JOIN LATERAL generate_series(1, 1 + floor(pg_temp.u(o, 1) * 4)::int) l
JOIN products p ON p.id = 1 + floor(pg_temp.u(o * 8 + l, 5) * :np)::int
ORDER BY o, l;

INSERT INTO orders (id, customer_id, status, currency, total, shipping_address, note, created_at, updated_at)
SELECT s.g, s.cu,
       CASE WHEN s.t < :'t0'::timestamptz - interval '4 days' THEN
              CASE WHEN s.r < 0.03 THEN 'cancelled' WHEN s.r < 0.05 THEN 'returned' ELSE 'delivered' END
            ELSE pg_temp.pick('{new,paid,shipped}', s.r) END,
       CASE c.country WHEN 'NO' THEN 'NOK' WHEN 'DK' THEN 'DKK' WHEN 'CZ' THEN 'CZK' WHEN 'PL' THEN 'PLN' ELSE 'EUR' END,
       it.total,
       c.full_name || E'\n' || c.street || E'\n' || c.postal_code || ' ' || c.city || E'\n' || c.country,
       CASE WHEN s.r2 < 0.1 THEN pg_temp.pick(:'notes', s.r2 * 10) END,
       s.t,
       CASE WHEN s.t < :'t0'::timestamptz - interval '4 days'
            THEN date_trunc('second', s.t + interval '3 days' * (0.5 + s.r)) ELSE s.t END
FROM (SELECT g, 1 + floor(random() * :nc)::bigint AS cu, random() AS r, random() AS r2,
             date_trunc('second', :'t0'::timestamptz - interval '730 days' * (1 - g::float8 / :no)) AS t
      FROM generate_series(1, :no) g) s
JOIN customers c ON c.id = s.cu
JOIN (SELECT order_id, sum(round(quantity * unit_price * (1 - discount), 2)) AS total
        FROM order_items GROUP BY order_id) it ON it.order_id = s.g
ORDER BY s.g;

INSERT INTO events (id, customer_id, kind, payload, created_at)
SELECT g,
       CASE WHEN r1 < 0.85 THEN 1 + floor(r1 / 0.85 * :nc)::bigint END,
       k,
       jsonb_build_object(
         'path', CASE k WHEN 'search' THEN '/search?q=' || lower(pg_temp.pick(:'nouns', r2))
                        WHEN 'login' THEN '/account/login'
                        ELSE '/products/' || (1 + floor(r2 * :np)::int) END,
         'session', substr(md5(g::text || 'session'), 1, 20),
         'ip', '10.' || floor(r3 * 256)::int || '.' || floor(r4 * 256)::int || '.' || floor(r5 * 256)::int,
         'agent', pg_temp.pick(:'agents', r6),
         'referrer', pg_temp.pick(:'referrers', r7),
         'duration_ms', floor(r8 * r8 * 20000)::int,
         'cart_value', CASE WHEN k IN ('add_to_cart', 'checkout') THEN round((r9 * 300)::numeric, 2) END),
       date_trunc('milliseconds', :'t0'::timestamptz - interval '30 days' * (1 - g::float8 / :ne))
FROM (SELECT g, pg_temp.pick(:'kinds', random()) AS k, random() AS r1, random() AS r2, random() AS r3,
             random() AS r4, random() AS r5, random() AS r6, random() AS r7, random() AS r8,
             random() AS r9
      FROM generate_series(1, :ne) g) s;

INSERT INTO audit_log (logged_at, actor, action, entity, entity_id, detail)
SELECT date_trunc('seconds', :'t0'::timestamptz - interval '730 days' * (1 - g::float8 / :na)),
       pg_temp.pick('{system,system,web,web,web,admin:kim,admin:lars,import-job}', r1),
       a, e,
       1 + floor(r2 * CASE e WHEN 'customer' THEN :nc WHEN 'product' THEN :np ELSE :no END)::bigint,
       CASE a WHEN 'update' THEN 'changed ' || pg_temp.pick('{email,phone,address,price,stock,status,opt-in}', r3)
                                 || ' (request ' || substr(md5(g::text), 1, 12) || ')'
              WHEN 'create' THEN 'created via ' || pg_temp.pick('{web,app,phone,import}', r3)
              ELSE 'viewed by support, ticket #' || (10000 + floor(r3 * 90000)::int) END
FROM (SELECT g, pg_temp.pick('{update,update,update,create,view}', random()) AS a,
             pg_temp.pick('{customer,customer,order,order,product}', random()) AS e,
             random() AS r1, random() AS r2, random() AS r3
      FROM generate_series(1, :na) g) s;

SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers));
SELECT setval(pg_get_serial_sequence('products', 'id'), (SELECT max(id) FROM products));
SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders));
SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events));

ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE order_items ADD FOREIGN KEY (product_id) REFERENCES products (id);
CREATE INDEX customers_email_idx ON customers (email);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_status_idx ON orders (status) WHERE status IN ('new', 'paid', 'shipped');
CREATE INDEX events_created_at_idx ON events (created_at);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id);

CREATE VIEW order_totals_by_day AS
  SELECT date_trunc('day', created_at) AS day, count(*) AS orders, sum(total) AS revenue
    FROM orders WHERE status <> 'cancelled' GROUP BY 1;

VACUUM ANALYZE;
SQL
  } | run_psql "$1" -v nc=$((8000 * scale)) -v np=$((500 * scale)) -v no=$((24000 * scale)) \
        -v ne=$((40000 * scale)) -v na=$((10000 * scale))
}

cmd_churn() {
  local conninfo=$1 night=$2
  [[ "$night" =~ ^[1-9][0-9]*$ ]] || die "NIGHT must be a positive integer, not '$night'"
  {
    echo "$COMMON_SQL"
    cat <<'SQL'
SELECT setseed(:night / 1000.0);
-- The day before the night's 02:00 backup.
SELECT :'t0'::timestamptz + :night * interval '1 day' - interval '22 hours' AS day_start \gset
SELECT count(*) AS nc FROM customers \gset
SELECT count(*) AS np FROM products \gset
SELECT count(*) AS no FROM orders WHERE created_at < :'t0'::timestamptz \gset

BEGIN;
-- ~5% of the customers, scattered over the key range.
WITH upd AS (
  UPDATE customers
     SET loyalty_points = loyalty_points + 1 + floor(pg_temp.u(id, :night * 16 + 1) * 80)::int,
         phone = CASE WHEN pg_temp.u(id, :night * 16 + 2) < 0.05
                      THEN '+' || (30 + floor(pg_temp.u(id, :night * 16 + 3) * 20)::int) || ' '
                           || (100 + floor(pg_temp.u(id, :night * 16 + 4) * 900)::int) || ' '
                           || lpad(floor(pg_temp.u(id, :night * 16 + 5) * 10000000)::int::text, 7, '0')
                      ELSE phone END,
         street = CASE WHEN pg_temp.u(id, :night * 16 + 6) < 0.03
                       THEN pg_temp.pick(:'streets', pg_temp.u(id, :night * 16 + 7)) || ' ' || (1 + floor(pg_temp.u(id, :night * 16 + 8) * 240)::int)
                       ELSE street END,
         marketing_opt_in = marketing_opt_in <> (pg_temp.u(id, :night * 16 + 9) < 0.02),
         updated_at = date_trunc('second', :'day_start'::timestamptz + interval '20 hours' * pg_temp.u(id, :night * 16 + 10))
   WHERE pg_temp.u(id, :night * 16) < 0.05
  RETURNING id, updated_at
)
INSERT INTO audit_log (logged_at, actor, action, entity, entity_id, detail)
SELECT updated_at, 'web', 'update', 'customer', id, 'profile updated (request ' || substr(md5(id::text || :night), 1, 12) || ')'
  FROM upd ORDER BY id;

-- Stock on ~5% of the products, the price on ~1%.
WITH upd AS (
  UPDATE products
     SET stock = greatest(stock - floor(pg_temp.u(id, :night * 16 + 11) * 8)::int + CASE WHEN stock < 5 THEN 100 ELSE 0 END, 0),
         price = CASE WHEN pg_temp.u(id, :night * 16 + 12) < 0.2 THEN round(price * 1.05, 1) - 0.01 ELSE price END,
         updated_at = date_trunc('second', :'day_start'::timestamptz + interval '20 hours' * pg_temp.u(id, :night * 16 + 13))
   WHERE pg_temp.u(id, :night * 16 + 14) < 0.05
  RETURNING id, updated_at
)
INSERT INTO audit_log (logged_at, actor, action, entity, entity_id, detail)
SELECT updated_at, 'import-job', 'update', 'product', id, 'stock/price sync' FROM upd ORDER BY id;

-- The recent orders move along.
WITH upd AS (
  UPDATE orders
     SET status = CASE WHEN status = 'new' AND pg_temp.u(id, :night * 16 + 15) < 0.03 THEN 'cancelled'
                       WHEN status = 'new' THEN 'paid' WHEN status = 'paid' THEN 'shipped' ELSE 'delivered' END,
         updated_at = date_trunc('second', :'day_start'::timestamptz + interval '20 hours' * pg_temp.u(id, :night * 16 + 15))
   WHERE status IN ('new', 'paid', 'shipped') AND pg_temp.u(id, :night * 16 + 14) < 0.7
  RETURNING id, status, updated_at
)
INSERT INTO audit_log (logged_at, actor, action, entity, entity_id, detail)
SELECT updated_at, 'system', 'update', 'order', id, 'status -> ' || status FROM upd ORDER BY id;

-- New orders (1% of the initial count) with their items.
SELECT coalesce(max(id), 0) AS last_order FROM orders \gset
CREATE TEMP TABLE new_items AS
SELECT o AS order_id, l::smallint AS line_no, p.id AS product_id,
       1 + floor(pg_temp.u(o * 8 + l, 2) * pg_temp.u(o * 8 + l, 3) * 5)::int AS quantity, p.price AS unit_price,
       CASE WHEN pg_temp.u(o * 8 + l, 4) < 0.15 THEN 0.10 ELSE 0 END::numeric(4, 2) AS discount
FROM generate_series(:last_order + 1, :last_order + :no / 100) o
CROSS JOIN LATERAL generate_series(1, 1 + floor(pg_temp.u(o, 1) * 4)::int) l
JOIN products p ON p.id = 1 + floor(pg_temp.u(o * 8 + l, 5) * :np)::int;
WITH ins AS (
  INSERT INTO orders (id, customer_id, status, currency, total, shipping_address, note, created_at, updated_at)
  SELECT s.o, c.id, 'new',
         CASE c.country WHEN 'NO' THEN 'NOK' WHEN 'DK' THEN 'DKK' WHEN 'CZ' THEN 'CZK' WHEN 'PL' THEN 'PLN' ELSE 'EUR' END,
         it.total,
         c.full_name || E'\n' || c.street || E'\n' || c.postal_code || ' ' || c.city || E'\n' || c.country,
         CASE WHEN s.r2 < 0.1 THEN pg_temp.pick(:'notes', s.r2 * 10) END,
         s.t, s.t
  FROM (SELECT o, 1 + floor(random() * :nc)::bigint AS cu, random() AS r2,
               date_trunc('second', :'day_start'::timestamptz + interval '20 hours' * (o - :last_order)::float8 / (:no / 100 + 1)) AS t
        FROM generate_series(:last_order + 1, :last_order + :no / 100) o) s
  JOIN customers c ON c.id = s.cu
  JOIN (SELECT order_id, sum(round(quantity * unit_price * (1 - discount), 2)) AS total
          FROM new_items GROUP BY order_id) it ON it.order_id = s.o
  ORDER BY s.o
  RETURNING id, created_at
)
INSERT INTO audit_log (logged_at, actor, action, entity, entity_id, detail)
SELECT created_at, 'web', 'create', 'order', id, 'created via web' FROM ins ORDER BY id;
INSERT INTO order_items SELECT * FROM new_items ORDER BY order_id, line_no;
SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders));

-- Today's click stream; the oldest events expire.
SELECT coalesce(max(id), 0) AS last_event FROM events \gset
INSERT INTO events (id, customer_id, kind, payload, created_at)
SELECT g,
       CASE WHEN r1 < 0.85 THEN 1 + floor(r1 / 0.85 * :nc)::bigint END,
       k,
       jsonb_build_object(
         'path', CASE k WHEN 'search' THEN '/search?q=' || lower(pg_temp.pick(:'nouns', r2))
                        WHEN 'login' THEN '/account/login'
                        ELSE '/products/' || (1 + floor(r2 * :np)::int) END,
         'session', substr(md5(g::text || 'session'), 1, 20),
         'ip', '10.' || floor(r3 * 256)::int || '.' || floor(r4 * 256)::int || '.' || floor(r5 * 256)::int,
         'agent', pg_temp.pick(:'agents', r6),
         'referrer', pg_temp.pick(:'referrers', r7),
         'duration_ms', floor(r8 * r8 * 20000)::int,
         'cart_value', CASE WHEN k IN ('add_to_cart', 'checkout') THEN round((r9 * 300)::numeric, 2) END),
       date_trunc('milliseconds', :'day_start'::timestamptz + interval '20 hours' * (g - :last_event)::float8 / (:n_new_events + 1))
FROM (SELECT g, pg_temp.pick(:'kinds', random()) AS k, random() AS r1, random() AS r2, random() AS r3,
             random() AS r4, random() AS r5, random() AS r6, random() AS r7, random() AS r8,
             random() AS r9
      FROM generate_series(:last_event + 1, :last_event + :n_new_events) g) s;
SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events));
DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT :n_expire_events);
COMMIT;

-- What autovacuum would do overnight: freed space is reused by tomorrow's rows.
VACUUM ANALYZE;
SQL
  } | run_psql "$conninfo" -v night="$night" -v n_new_events=$((1500 * $(scale_of "$conninfo"))) \
        -v n_expire_events=$((1300 * $(scale_of "$conninfo")))
}

# The scale a database was created with, from its product count (500 per unit of scale).
scale_of() {
  local n
  n=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$1" -c "SELECT count(*) FROM products")
  echo $(((n + 250) / 500))
}

cmd_rows() {
  local conninfo=$1 dir=$2 t
  mkdir -p "$dir"
  for t in "${TABLES[@]}"; do
    psql -X -q -v ON_ERROR_STOP=1 -d "$conninfo" -c "\\copy (SELECT * FROM $t) TO STDOUT" |
      LC_ALL=C sort -S 256M --parallel=2 -T "$dir" >"$dir/$t.rows"
  done
}

cmd_changed() {
  local before=$1 after=$2 t k plus minus
  plus=$after/.changed-plus minus=$after/.changed-minus
  for t in "${TABLES[@]}"; do
    [[ -f "$before/$t.rows" && -f "$after/$t.rows" ]] || die "no $t.rows in $before or $after"
    k=${KEY_COLUMNS[$t]}
    LC_ALL=C comm -13 "$before/$t.rows" "$after/$t.rows" >"$plus"
    LC_ALL=C comm -23 "$before/$t.rows" "$after/$t.rows" >"$minus"
    echo "## $t"
    # A row of AFTER that is not in BEFORE: changed ("~", its key is among the gone rows) or
    # inserted ("+"). A row of BEFORE that is gone: changed, or deleted ("-<key>").
    awk -F '\t' -v k="$k" '
      function key(   i, s) { if (k == 0) return $0; s = $1; for (i = 2; i <= k; i++) s = s "\t" $i; return s }
      file == 1 { if (k > 0) gone[key()] = 1; next }
      file == 2 { if (k > 0) seen[key()] = 1; print ((key() in gone) ? "~" : "+") $0; next }
      !(key() in seen) { print "-" key() }' file=1 "$minus" file=2 "$plus" file=3 "$minus"
    printf '%s: %s new or changed rows, %s rows gone (deleted or changed)\n' "$t" \
      "$(wc -l <"$plus")" "$(wc -l <"$minus")" >&2
  done
  rm -f "$plus" "$minus"
}

(( $# >= 1 )) || usage
case "$1" in
  create) (( $# == 2 || $# == 3 )) || usage; cmd_create "$2" "${3:-15}" ;;
  churn) (( $# == 3 )) || usage; cmd_churn "$2" "$3" ;;
  rows) (( $# == 3 )) || usage; cmd_rows "$2" "$3" ;;
  changed) (( $# == 3 )) || usage; cmd_changed "$2" "$3" ;;
  tables) printf '%s\n' "${TABLES[@]}" ;;
  -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
  *) usage ;;
esac
