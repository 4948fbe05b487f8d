-- Accounts, refresh-token revocation, wishlist, cart, addresses, orders and
-- idempotency records. Every user-owned row carries user_id and every lookup
-- is indexed by (user_id, …) so that scoping to the caller is also the index.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(username) BETWEEN 1 AND 150),
    email         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    is_staff      INTEGER NOT NULL DEFAULT 0 CHECK (is_staff IN (0, 1)),
    created_at    TEXT NOT NULL
);

-- One row per issued refresh token (by its jti); rotation and logout set
-- revoked_at, so a used token is refused by every replica.
CREATE TABLE refresh_tokens (
    jti        TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL, -- unix seconds
    revoked_at INTEGER          -- unix seconds, NULL while valid
);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

CREATE TABLE wishlist (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, product_id)
);
CREATE INDEX wishlist_product ON wishlist(product_id);

CREATE TABLE cart_lines (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    size       TEXT NOT NULL DEFAULT '',
    color      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (user_id, product_id, size, color)
);
CREATE INDEX cart_lines_user ON cart_lines(user_id, id);
CREATE INDEX cart_lines_product ON cart_lines(product_id);

CREATE TABLE addresses (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    is_default   INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    address      TEXT NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
    phone        TEXT NOT NULL CHECK (length(phone) BETWEEN 1 AND 40),
    address_type TEXT NOT NULL CHECK (address_type IN ('home', 'office', 'school')),
    created_at   TEXT NOT NULL
);
CREATE INDEX addresses_user ON addresses(user_id, id);

-- Orders keep snapshots (address and each product as JSON at order time) so
-- that later edits or deletions never rewrite history.
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address_id      INTEGER REFERENCES addresses(id) ON DELETE SET NULL,
    address_json    TEXT NOT NULL,
    total_cents     INTEGER NOT NULL CHECK (total_cents >= 0),
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled')),
    payment_status  TEXT NOT NULL DEFAULT 'pending'
                    CHECK (payment_status IN ('pending', 'completed', 'failed')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX orders_user ON orders(user_id, id);
CREATE INDEX orders_created ON orders(created_at);

CREATE TABLE order_items (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id     INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    product_id   INTEGER NOT NULL, -- no FK: a deleted product stays in history
    product_json TEXT NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity >= 1),
    price_cents  INTEGER NOT NULL CHECK (price_cents >= 0),
    size         TEXT NOT NULL DEFAULT '',
    color        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX order_items_order ON order_items(order_id);

-- Idempotency-Key records: the first response is kept and replayed.
CREATE TABLE idempotency_keys (
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
