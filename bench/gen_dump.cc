// gen_dump: a deterministic generator of pg_dump-like plain SQL text, for benchmarks and tests.
//
//   gen_dump --rows N [--night K] [--seed S]     a dump of a small shop database
//   gen_dump --random-bytes N [--seed S]         N pseudo-random (incompressible) bytes
//
// Writes to stdout. The output depends only on (N, K, S), on every platform. Defaults: K = 0,
// S = 1.
//
// The database. N is the number of orders at night 0; the other tables scale with it:
//   customers    N / 10 rows (~85 bytes each); +0.2% new customers per night; each night ~2% of
//                the existing customers change email and/or city, scattered over the key range.
//   events       N / 2 rows (~190 bytes each, a JSON-ish payload): an append-only log with a
//                retention window; each night N / 50 events are appended and the oldest N / 50
//                deleted.
//   order_items  1-4 lines per order (~35 bytes each), never updated.
//   orders       N rows (~65 bytes each), 100 nights of history at night 0; +N / 100 new orders
//                per night; the status of recent orders moves on (pending, paid, shipped,
//                delivered, a few cancelled or returned), so rows up to ~3 weeks old change.
// Night K is the state after K nights of churn from night 0. Rows are in key order, tables in
// pg_dump's order, each as a `COPY ... FROM stdin;` block ending in `\.`, between a header of
// SET and CREATE TABLE statements and a trailer of sequences, constraints and indexes, as
// pg_dump --format=plain writes them. --rows 1000000 gives ~250 MB that zstd -3 compresses by
// about 3-4x, like real dump text: words from small vocabularies, ids, amounts and timestamps.
//
// Every field is a function of (seed, table, key, version), computed with splitmix64, so a
// night is generated without replaying the nights before it.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

// ---------------------------------------------------------------------------------------------
// Randomness: splitmix64, keyed hashing of (seed, tag, key, version).

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

class Rng {
 public:
  explicit Rng(uint64_t state) : state_(state) {}
  uint64_t Next() { return Mix64(state_ += kGolden); }
  // Uniform-enough in [0, n) for small n.
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }

 private:
  uint64_t state_;
};

enum Tag : uint64_t {
  kTagCustomer = 1,
  kTagCustomerChange,
  kTagOrder,
  kTagOrderItems,
  kTagProduct,
  kTagEvent,
  kTagSession,
  kTagRandomBytes,
};

uint64_t g_seed = 1;

uint64_t Hash(uint64_t tag, uint64_t key, uint64_t version = 0) {
  return Mix64(Mix64(Mix64((g_seed * kGolden) ^ tag) + key) ^ (version * kGolden));
}

// ---------------------------------------------------------------------------------------------
// Vocabularies.

template <size_t N>
constexpr size_t Count(const std::string_view (&)[N]) {
  return N;
}

constexpr std::string_view kFirstNames[] = {
    "James",   "Mary",      "John",    "Patricia", "Robert",  "Jennifer", "Michael", "Linda",
    "William", "Elizabeth", "David",   "Barbara",  "Richard", "Susan",    "Joseph",  "Jessica",
    "Thomas",  "Sarah",     "Charles", "Karen",    "Daniel",  "Lisa",     "Matthew", "Nancy",
    "Anthony", "Betty",     "Mark",    "Margaret", "Donald",  "Sandra",   "Steven",  "Ashley",
    "Paul",    "Emily",     "Andrew",  "Donna",    "Joshua",  "Michelle", "Kenneth", "Carol",
    "Kevin",   "Amanda",    "Brian",   "Melissa",  "George",  "Deborah",  "Timothy", "Stephanie",
    "Pierre",  "Marie",     "Hans",    "Greta",    "Luca",    "Giulia",   "Carlos",  "Lucia",
    "Kenji",   "Yuki",      "Olumide", "Amara",    "Ivan",    "Olga",     "Arjun",   "Priya"};
constexpr std::string_view kLastNames[] = {
    "Smith",     "Johnson",  "Williams",  "Brown",   "Jones",    "Garcia",   "Miller",   "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez",   "Gonzalez", "Wilson",   "Anderson", "Thomas",
    "Taylor",    "Moore",    "Jackson",   "Martin",  "Lee",      "Perez",    "Thompson", "White",
    "Harris",    "Sanchez",  "Clark",     "Ramirez", "Lewis",    "Robinson", "Walker",   "Young",
    "Allen",     "King",     "Wright",    "Scott",   "Torres",   "Nguyen",   "Hill",     "Flores",
    "Green",     "Adams",    "Nelson",    "Baker",   "Hall",     "Rivera",   "Campbell", "Mitchell",
    "Dubois",    "Moreau",   "Schmidt",   "Fischer", "Rossi",    "Russo",    "Silva",    "Santos",
    "Tanaka",    "Suzuki",   "Okafor",    "Adeyemi", "Ivanov",   "Petrova",  "Sharma",   "Patel"};
constexpr std::string_view kLowerFirst[] = {
    "james",   "mary",      "john",    "patricia", "robert",  "jennifer", "michael", "linda",
    "william", "elizabeth", "david",   "barbara",  "richard", "susan",    "joseph",  "jessica",
    "thomas",  "sarah",     "charles", "karen",    "daniel",  "lisa",     "matthew", "nancy",
    "anthony", "betty",     "mark",    "margaret", "donald",  "sandra",   "steven",  "ashley",
    "paul",    "emily",     "andrew",  "donna",    "joshua",  "michelle", "kenneth", "carol",
    "kevin",   "amanda",    "brian",   "melissa",  "george",  "deborah",  "timothy", "stephanie",
    "pierre",  "marie",     "hans",    "greta",    "luca",    "giulia",   "carlos",  "lucia",
    "kenji",   "yuki",      "olumide", "amara",    "ivan",    "olga",     "arjun",   "priya"};
constexpr std::string_view kLowerLast[] = {
    "smith",     "johnson",  "williams",  "brown",   "jones",    "garcia",   "miller",   "davis",
    "rodriguez", "martinez", "hernandez", "lopez",   "gonzalez", "wilson",   "anderson", "thomas",
    "taylor",    "moore",    "jackson",   "martin",  "lee",      "perez",    "thompson", "white",
    "harris",    "sanchez",  "clark",     "ramirez", "lewis",    "robinson", "walker",   "young",
    "allen",     "king",     "wright",    "scott",   "torres",   "nguyen",   "hill",     "flores",
    "green",     "adams",    "nelson",    "baker",   "hall",     "rivera",   "campbell", "mitchell",
    "dubois",    "moreau",   "schmidt",   "fischer", "rossi",    "russo",    "silva",    "santos",
    "tanaka",    "suzuki",   "okafor",    "adeyemi", "ivanov",   "petrova",  "sharma",   "patel"};
static_assert(Count(kFirstNames) == 64 && Count(kLowerFirst) == 64);
static_assert(Count(kLastNames) == 64 && Count(kLowerLast) == 64);

constexpr std::string_view kDomains[] = {"gmail.com",   "yahoo.com", "outlook.com", "proton.me",
                                         "example.org", "mail.de",   "orange.fr",   "icloud.com"};
constexpr std::string_view kCities[] = {
    "London",   "Paris",      "Berlin",  "Madrid",  "Rome",     "Lisbon",    "Amsterdam",
    "Vienna",   "Prague",     "Warsaw",  "Dublin",  "Brussels", "Stockholm", "Oslo",
    "Helsinki", "Copenhagen", "Zurich",  "Munich",  "Hamburg",  "Lyon",      "Marseille",
    "Milan",    "Naples",     "Porto",   "Seville", "Valencia", "Krakow",    "Budapest",
    "Athens",   "New York",   "Chicago", "Toronto"};
constexpr std::string_view kEventKinds[] = {"page_view", "page_view",   "page_view", "page_view",
                                            "search",    "add_to_cart", "login",     "checkout"};
constexpr std::string_view kReferrers[] = {"direct", "google", "newsletter", "facebook",
                                           "direct", "google", "partner",    "bing"};
constexpr std::string_view kDevices[] = {"desktop", "mobile", "mobile", "tablet"};
constexpr std::string_view kSearchWords[] = {
    "shoes", "jacket",   "lamp",  "chair", "phone case", "kettle", "socks",      "desk",
    "mug",   "backpack", "watch", "scarf", "towel",      "pan",    "headphones", "plant"};

// ---------------------------------------------------------------------------------------------
// Output: rows are formatted into a buffer that is written with fwrite when nearly full.

class Out {
 public:
  Out() : buf_(static_cast<char*>(std::malloc(kCap))) {
    if (buf_ == nullptr) std::abort();
  }
  ~Out() { std::free(buf_); }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;

  void Put(std::string_view s) {
    if (len_ + s.size() > kCap) {
      Flush();
      if (s.size() > kCap) return Write(s.data(), s.size());
    }
    std::memcpy(buf_ + len_, s.data(), s.size());
    len_ += s.size();
  }
  // Row-level writers assume room for one row (EndRow keeps kRowRoom bytes free).
  void Char(char c) { buf_[len_++] = c; }
  void Field(std::string_view s) {
    std::memcpy(buf_ + len_, s.data(), s.size());
    len_ += s.size();
  }
  void Tab() { buf_[len_++] = '\t'; }
  void Uint(uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) buf_[len_++] = tmp[--n];
  }
  // Zero-padded to `width` digits.
  void UintPadded(uint64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf_[len_ + i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    len_ += width;
  }
  // cents as "123.45".
  void Money(uint64_t cents) {
    Uint(cents / 100);
    buf_[len_++] = '.';
    UintPadded(cents % 100, 2);
  }
  void Hex32(uint32_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    for (int i = 7; i >= 0; --i) buf_[len_++] = kDigits[(v >> (4 * i)) & 15];
  }
  // A timestamptz as pg_dump prints it in UTC: "2024-06-01 13:45:07.123456+00" (no fraction
  // when micros is negative).
  void Timestamp(int64_t unix_seconds, int64_t micros) {
    const int64_t days = unix_seconds / 86400;
    const int64_t secs = unix_seconds % 86400;
    if (days != cached_days_) {
      // Howard Hinnant's civil_from_days.
      const int64_t z = days + 719468;
      const int64_t era = z / 146097;
      const int64_t doe = z - era * 146097;
      const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
      const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
      const int64_t mp = (5 * doy + 2) / 153;
      const int64_t d = doy - (153 * mp + 2) / 5 + 1;
      const int64_t m = mp < 10 ? mp + 3 : mp - 9;
      const int64_t y = yoe + era * 400 + (m <= 2);
      char* p = cached_date_;
      const auto put = [&p](int64_t v, int width) {
        for (int i = width - 1; i >= 0; --i) {
          p[i] = static_cast<char>('0' + v % 10);
          v /= 10;
        }
        p += width;
      };
      put(y, 4);
      *p++ = '-';
      put(m, 2);
      *p++ = '-';
      put(d, 2);
      cached_days_ = days;
    }
    std::memcpy(buf_ + len_, cached_date_, 10);
    len_ += 10;
    buf_[len_++] = ' ';
    UintPadded(secs / 3600, 2);
    buf_[len_++] = ':';
    UintPadded(secs / 60 % 60, 2);
    buf_[len_++] = ':';
    UintPadded(secs % 60, 2);
    if (micros >= 0) {
      buf_[len_++] = '.';
      UintPadded(static_cast<uint64_t>(micros), 6);
    }
    Field("+00");
  }
  void EndRow() {
    buf_[len_++] = '\n';
    if (len_ > kCap - kRowRoom) Flush();
  }

  void Flush() {
    Write(buf_, len_);
    len_ = 0;
  }

 private:
  static constexpr size_t kCap = 1 << 20;
  static constexpr size_t kRowRoom = 4096;

  static void Write(const char* p, size_t n) {
    if (n != 0 && std::fwrite(p, 1, n, stdout) != n) {
      std::fprintf(stderr, "gen_dump: write to stdout: %s\n", std::strerror(errno));
      std::exit(1);
    }
  }

  char* buf_;
  size_t len_ = 0;
  int64_t cached_days_ = -1;
  char cached_date_[10] = {};
};

// ---------------------------------------------------------------------------------------------
// The database model.

// Night 0 is taken at 2024-06-01 02:00:00 UTC; night k one day later per k. Rows "created at
// night k" were created during the 24 hours before it.
constexpr int64_t kNight0 = 1717207200;
constexpr int64_t kDay = 86400;

struct Model {
  uint64_t rows;   // N: orders at night 0
  uint64_t night;  // K

  // customers
  uint64_t cust0;       // at night 0
  uint64_t cust_daily;  // new per night
  // orders
  uint64_t orders0;
  uint64_t orders_daily;
  // events
  uint64_t events0;
  uint64_t events_daily;  // appended and deleted per night
  uint64_t products;

  explicit Model(uint64_t n, uint64_t k)
      : rows(n),
        night(k),
        cust0(Max1(n / 10)),
        cust_daily(Max1(n / 10 / 500)),
        orders0(n),
        orders_daily(Max1(n / 100)),
        events0(Max1(n / 2)),
        events_daily(Max1(n / 50)),
        products(5000) {}

  static uint64_t Max1(uint64_t v) { return v ? v : 1; }

  uint64_t CustomersAt(int64_t k) const { return cust0 + (k > 0 ? k : 0) * cust_daily; }
  uint64_t OrdersAt(int64_t k) const { return orders0 + k * orders_daily; }

  // The night a row with 1-based `id` was created, for a table with `initial` rows at night 0
  // (created over the nights before it, `daily` per night) and `daily` new rows per night;
  // `*index` receives its position among the rows of that night.
  static int64_t CreatedNight(uint64_t id, uint64_t initial, uint64_t daily, uint64_t* index) {
    if (id <= initial) {
      const uint64_t back = initial - id;  // 0 for the newest initial row
      *index = daily - 1 - back % daily;
      return -static_cast<int64_t>(back / daily);
    }
    *index = (id - initial - 1) % daily;
    return static_cast<int64_t>((id - initial - 1) / daily + 1);
  }
  // A time during the day before night `k`, increasing with `index` (of `per_night`).
  static int64_t TimeOf(int64_t k, uint64_t index, uint64_t per_night, uint64_t jitter) {
    const uint64_t step = kDay / per_night;
    return kNight0 + (k - 1) * kDay + static_cast<int64_t>(index * kDay / per_night) +
           static_cast<int64_t>(step ? jitter % step : 0);
  }
};

uint32_t ProductPriceCents(uint64_t product) { return 199 + Hash(kTagProduct, product) % 400 * 25; }

// ---------------------------------------------------------------------------------------------
// Tables.

void WriteCustomers(const Model& m, Out& out) {
  const uint64_t count = m.CustomersAt(static_cast<int64_t>(m.night));
  // Initial customers signed up over the 3 years before night 0.
  const int64_t history = 3 * 365 * kDay;
  for (uint64_t c = 1; c <= count; ++c) {
    int64_t created;
    int64_t created_night;
    if (c <= m.cust0) {
      created = kNight0 - history + static_cast<int64_t>((c - 1) * history / m.cust0);
      created_night = 0;
    } else {
      uint64_t index;
      created_night = Model::CreatedNight(c, m.cust0, m.cust_daily, &index);
      created = Model::TimeOf(created_night, index, m.cust_daily, Hash(kTagCustomer, c, 1));
    }
    // The version is the last night (after its creation) at which the customer changed; ~2% of
    // customers change each night.
    uint64_t version = 0;
    for (int64_t k = static_cast<int64_t>(m.night); k > created_night; --k) {
      if (Hash(kTagCustomerChange, c, k) % 10000 < 200) {
        version = static_cast<uint64_t>(k);
        break;
      }
    }
    const uint64_t who = Hash(kTagCustomer, c);
    const uint32_t first = who & 63;
    const uint32_t last = (who >> 6) & 63;
    Rng v(Hash(kTagCustomer, c, version + 2));
    out.Uint(c);
    out.Tab();
    out.Field(kFirstNames[first]);
    out.Char(' ');
    out.Field(kLastNames[last]);
    out.Tab();
    out.Field(kLowerFirst[first]);
    out.Char('.');
    out.Field(kLowerLast[last]);
    const uint32_t suffix = v.Below(4);
    if (suffix != 0) out.Uint(v.Below(suffix == 1 ? 100 : 10000));
    out.Char('@');
    out.Field(kDomains[v.Below(8)]);
    out.Tab();
    if (v.Below(20) == 0) {
      out.Field("\\N");  // NULL city
    } else {
      out.Field(kCities[v.Below(32)]);
    }
    out.Tab();
    // Initial customers were imported without a fraction; later ones got now().
    out.Timestamp(created, c <= m.cust0
                               ? -1
                               : static_cast<int64_t>((Hash(kTagCustomer, c, 1) >> 40) % 1000000));
    out.EndRow();
  }
}

struct OrderLine {
  uint32_t product;
  uint32_t quantity;
  uint32_t unit_price_cents;
};

// The lines of order `o` (1-4, fixed at creation). Returns their count.
int OrderLines(uint64_t o, OrderLine lines[4]) {
  Rng r(Hash(kTagOrderItems, o));
  const int count = 1 + static_cast<int>(r.Below(4));
  for (int i = 0; i < count; ++i) {
    // Skewed popularity: half the lines come from the 250 best sellers.
    const uint32_t product = 1 + (r.Below(2) ? r.Below(250) : r.Below(5000));
    lines[i].product = product;
    lines[i].quantity = r.Below(4) ? 1 : 1 + r.Below(5);
    lines[i].unit_price_cents = ProductPriceCents(product);
  }
  return count;
}

// The status of an order `age` nights after its creation.
std::string_view OrderStatus(uint64_t o, int64_t age) {
  const uint64_t r = Hash(kTagOrder, o, 1);
  const int64_t paid = 1 + static_cast<int64_t>(r & 1);
  if (r % 1000 < 30) return age < paid ? "pending" : "cancelled";
  const int64_t shipped = paid + 1 + static_cast<int64_t>((r >> 8) & 1);
  const int64_t delivered = shipped + 1 + static_cast<int64_t>((r >> 16) & 3);
  if (age < paid) return "pending";
  if (age < shipped) return "paid";
  if (age < delivered) return "shipped";
  if ((r >> 32) % 1000 < 5 && age >= delivered + 5 + static_cast<int64_t>((r >> 40) % 10)) {
    return "returned";
  }
  return "delivered";
}

void WriteOrderItems(const Model& m, Out& out) {
  const uint64_t count = m.OrdersAt(static_cast<int64_t>(m.night));
  OrderLine lines[4];
  for (uint64_t o = 1; o <= count; ++o) {
    const int n = OrderLines(o, lines);
    for (int i = 0; i < n; ++i) {
      out.Uint(o);
      out.Tab();
      out.Uint(static_cast<uint64_t>(i + 1));
      out.Tab();
      out.Uint(lines[i].product);
      out.Tab();
      out.Field("SKU-");
      out.UintPadded(lines[i].product, 6);
      out.Tab();
      out.Uint(lines[i].quantity);
      out.Tab();
      out.Money(lines[i].unit_price_cents);
      out.EndRow();
    }
  }
}

void WriteOrders(const Model& m, Out& out) {
  const int64_t night = static_cast<int64_t>(m.night);
  const uint64_t count = m.OrdersAt(night);
  OrderLine lines[4];
  for (uint64_t o = 1; o <= count; ++o) {
    uint64_t index;
    const int64_t created_night = Model::CreatedNight(o, m.orders0, m.orders_daily, &index);
    const uint64_t r = Hash(kTagOrder, o);
    const int n = OrderLines(o, lines);
    uint64_t amount = 0;
    for (int i = 0; i < n; ++i) amount += uint64_t{lines[i].quantity} * lines[i].unit_price_cents;
    out.Uint(o);
    out.Tab();
    out.Uint(1 + r % m.CustomersAt(created_night));
    out.Tab();
    out.Field(OrderStatus(o, night - created_night));
    out.Tab();
    out.Money(amount);
    out.Tab();
    out.Timestamp(Model::TimeOf(created_night, index, m.orders_daily, r >> 32), (r >> 8) % 1000000);
    out.EndRow();
  }
}

void WriteEvents(const Model& m, Out& out) {
  const uint64_t first = m.night * m.events_daily + 1;  // older ones were deleted
  const uint64_t last = m.events0 + m.night * m.events_daily;
  for (uint64_t e = first; e <= last; ++e) {
    uint64_t index;
    const int64_t created_night = Model::CreatedNight(e, m.events0, m.events_daily, &index);
    Rng r(Hash(kTagEvent, e));
    const uint32_t kind = r.Below(8);
    // Visitors: a customer id, or 0 (anonymous) a fifth of the time.
    const uint64_t customer = r.Below(5) ? 1 + r.Next() % m.CustomersAt(created_night) : 0;
    out.Uint(e);
    out.Tab();
    out.Timestamp(Model::TimeOf(created_night, index, m.events_daily, r.Next()), r.Below(1000000));
    out.Tab();
    out.Field(kEventKinds[kind]);
    out.Tab();
    out.Field("{\"customer_id\": ");
    if (customer != 0) {
      out.Uint(customer);
    } else {
      out.Field("null");
    }
    // One session per visitor and day.
    out.Field(", \"session\": \"");
    out.Hex32(static_cast<uint32_t>(
        Hash(kTagSession, customer ? customer : r.Below(1000) + (1ull << 40), created_night)));
    out.Field("\", \"path\": \"");
    switch (kind) {
      case 4:
        out.Field("/search?q=");
        out.Field(kSearchWords[r.Below(16)]);
        break;
      case 5:
        out.Field("/cart/add/");
        out.Uint(1 + r.Below(5000));
        break;
      case 6:
        out.Field("/account/login");
        break;
      case 7:
        out.Field("/checkout/confirm");
        break;
      default:
        if (r.Below(4) == 0) {
          out.Field("/");
        } else {
          out.Field("/products/");
          out.Uint(1 + (r.Below(2) ? r.Below(250) : r.Below(5000)));
        }
    }
    out.Field("\", \"referrer\": \"");
    out.Field(kReferrers[r.Below(8)]);
    out.Field("\", \"ip\": \"");
    const uint64_t ip = r.Next();
    for (int i = 3; i >= 0; --i) {
      out.Uint((ip >> (8 * i)) & 255);
      if (i != 0) out.Char('.');
    }
    out.Field("\", \"device\": \"");
    out.Field(kDevices[r.Below(4)]);
    out.Field("\", \"ms\": ");
    out.Uint(20 + r.Below(400));
    out.Char('}');
    out.EndRow();
  }
}

// ---------------------------------------------------------------------------------------------
// The SQL around the data.

constexpr std::string_view kHeader = R"(--
-- PostgreSQL database dump
--

-- Dumped from database version 16.3
-- Dumped by pg_dump version 16.3

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: customers; Type: TABLE; Schema: public; Owner: shop
--

CREATE TABLE public.customers (
    id bigint NOT NULL,
    name text NOT NULL,
    email text NOT NULL,
    city text,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.customers OWNER TO shop;

--
-- Name: customers_id_seq; Type: SEQUENCE; Schema: public; Owner: shop
--

CREATE SEQUENCE public.customers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER SEQUENCE public.customers_id_seq OWNER TO shop;

--
-- Name: customers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: shop
--

ALTER SEQUENCE public.customers_id_seq OWNED BY public.customers.id;


--
-- Name: events; Type: TABLE; Schema: public; Owner: shop
--

CREATE TABLE public.events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL
);


ALTER TABLE public.events OWNER TO shop;

--
-- Name: order_items; Type: TABLE; Schema: public; Owner: shop
--

CREATE TABLE public.order_items (
    order_id bigint NOT NULL,
    line_no integer NOT NULL,
    product_id integer NOT NULL,
    sku text NOT NULL,
    quantity integer NOT NULL,
    unit_price numeric(12,2) NOT NULL
);


ALTER TABLE public.order_items OWNER TO shop;

--
-- Name: orders; Type: TABLE; Schema: public; Owner: shop
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    customer_id bigint NOT NULL,
    status text NOT NULL,
    amount numeric(12,2) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.orders OWNER TO shop;

)";

constexpr std::string_view kTrailer = R"(--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: shop
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: shop
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: order_items order_items_pkey; Type: CONSTRAINT; Schema: public; Owner: shop
--

ALTER TABLE ONLY public.order_items
    ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, line_no);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: shop
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: events_at_idx; Type: INDEX; Schema: public; Owner: shop
--

CREATE INDEX events_at_idx ON public.events USING btree (at);


--
-- Name: orders_customer_id_idx; Type: INDEX; Schema: public; Owner: shop
--

CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id);


--
-- Name: order_items order_items_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: shop
--

ALTER TABLE ONLY public.order_items
    ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id);


--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: shop
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);


--
-- PostgreSQL database dump complete
--

)";

void WriteCopy(Out& out, std::string_view table, std::string_view columns,
               void (*rows)(const Model&, Out&), const Model& m) {
  out.Put("--\n-- Data for Name: ");
  out.Put(table);
  out.Put("; Type: TABLE DATA; Schema: public; Owner: shop\n--\n\nCOPY public.");
  out.Put(table);
  out.Put(" (");
  out.Put(columns);
  out.Put(") FROM stdin;\n");
  rows(m, out);
  out.Put("\\.\n\n\n");
}

void WriteDump(const Model& m) {
  Out out;
  out.Put(kHeader);
  WriteCopy(out, "customers", "id, name, email, city, created_at", WriteCustomers, m);
  WriteCopy(out, "events", "id, at, kind, payload", WriteEvents, m);
  WriteCopy(out, "order_items", "order_id, line_no, product_id, sku, quantity, unit_price",
            WriteOrderItems, m);
  WriteCopy(out, "orders", "id, customer_id, status, amount, created_at", WriteOrders, m);
  out.Put("--\n-- Name: customers_id_seq; Type: SEQUENCE SET; Schema: public; Owner: shop\n--\n\n");
  out.Put("SELECT pg_catalog.setval('public.customers_id_seq', ");
  out.Put(std::to_string(m.CustomersAt(static_cast<int64_t>(m.night))));
  out.Put(", true);\n\n\n");
  out.Put(kTrailer);
  out.Flush();
}

void WriteRandomBytes(uint64_t n) {
  Out out;
  Rng r(Hash(kTagRandomBytes, 0));
  char block[4096];
  while (n > 0) {
    for (size_t i = 0; i < sizeof block; i += 8) {
      const uint64_t v = r.Next();
      std::memcpy(block + i, &v, 8);
    }
    const size_t take = n < sizeof block ? static_cast<size_t>(n) : sizeof block;
    out.Put(std::string_view(block, take));
    n -= take;
  }
  out.Flush();
}

int Usage() {
  std::fprintf(stderr,
               "usage: gen_dump --rows N [--night K] [--seed S]\n"
               "       gen_dump --random-bytes N [--seed S]\n");
  return 2;
}

bool ParseUint(const char* s, uint64_t* v) {
  if (*s < '0' || *s > '9') return false;
  char* end;
  errno = 0;
  *v = std::strtoull(s, &end, 10);
  return *end == '\0' && errno == 0;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t rows = 0, night = 0, random_bytes = 0;
  bool have_rows = false, have_random = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return Usage();
    uint64_t* dst;
    if (arg == "--rows") {
      dst = &rows;
      have_rows = true;
    } else if (arg == "--night") {
      dst = &night;
    } else if (arg == "--seed") {
      dst = &g_seed;
    } else if (arg == "--random-bytes") {
      dst = &random_bytes;
      have_random = true;
    } else {
      return Usage();
    }
    if (!ParseUint(argv[++i], dst)) return Usage();
  }
  if (have_rows == have_random) return Usage();
  if (have_random) {
    WriteRandomBytes(random_bytes);
    return 0;
  }
  if (rows == 0 || night > 100000) return Usage();
  WriteDump(Model(rows, night));
  return 0;
}
