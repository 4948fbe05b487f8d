-- Catalogue: categories, brands, products with stock, a full-text index on
-- titles, and the bookkeeping that keeps random lists and deep pages O(log n).
CREATE TABLE categories (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    title     TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    image_url TEXT NOT NULL DEFAULT '',
    rand_key  INTEGER NOT NULL DEFAULT (abs(random()) % 1000000000)
);
CREATE INDEX categories_rand ON categories(rand_key);

CREATE TABLE brands (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    title     TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    image_url TEXT NOT NULL DEFAULT ''
);

-- AUTOINCREMENT: ids are never reused, so ids are 1..max with gaps only where
-- a product was deleted (recorded in product_tombstones); stable pages use
-- that to find page N without an OFFSET scan.
CREATE TABLE products (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    title        TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    price_cents  INTEGER NOT NULL CHECK (price_cents >= 0),
    description  TEXT NOT NULL DEFAULT '',
    is_featured  INTEGER NOT NULL DEFAULT 0 CHECK (is_featured IN (0, 1)),
    clothes_type TEXT NOT NULL,
    rating       REAL NOT NULL DEFAULT 0 CHECK (rating >= 0 AND rating <= 5),
    category_id  INTEGER NOT NULL REFERENCES categories(id),
    brand_id     INTEGER NOT NULL REFERENCES brands(id),
    colors       TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    sizes        TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    image_urls   TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    stock        INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    rand_key     INTEGER NOT NULL DEFAULT (abs(random()) % 1000000000),
    created_at   TEXT NOT NULL
);
CREATE INDEX products_rand ON products(rand_key);
CREATE INDEX products_type_rand ON products(clothes_type, rand_key);
CREATE INDEX products_category_rand ON products(category_id, rand_key);
CREATE INDEX products_category_id ON products(category_id, id);
CREATE INDEX products_brand ON products(brand_id);
CREATE INDEX products_popular_rand ON products(rand_key) WHERE rating >= 4.0 AND rating <= 5.0;

CREATE TABLE product_tombstones (id INTEGER PRIMARY KEY);

-- Row counts kept by triggers: count(*) over a million rows is a scan.
CREATE TABLE product_counts (
    scope TEXT PRIMARY KEY, -- 'all' or 'category-<id>'
    n     INTEGER NOT NULL
);
INSERT INTO product_counts(scope, n) VALUES ('all', 0);

-- Full-text index on titles (FTS4: compiled into go-sqlite3 by default).
CREATE VIRTUAL TABLE products_fts USING fts4(content="products", title, tokenize=unicode61);

CREATE TRIGGER products_ai AFTER INSERT ON products BEGIN
    INSERT INTO products_fts(docid, title) VALUES (new.id, new.title);
    UPDATE product_counts SET n = n + 1 WHERE scope = 'all';
    INSERT INTO product_counts(scope, n) VALUES ('category-' || new.category_id, 1)
        ON CONFLICT(scope) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER products_bd BEFORE DELETE ON products BEGIN
    DELETE FROM products_fts WHERE docid = old.id;
END;
CREATE TRIGGER products_ad AFTER DELETE ON products BEGIN
    INSERT OR IGNORE INTO product_tombstones(id) VALUES (old.id);
    UPDATE product_counts SET n = n - 1 WHERE scope = 'all';
    UPDATE product_counts SET n = n - 1 WHERE scope = 'category-' || old.category_id;
END;
CREATE TRIGGER products_bu_title BEFORE UPDATE OF title ON products BEGIN
    DELETE FROM products_fts WHERE docid = old.id;
END;
CREATE TRIGGER products_au_title AFTER UPDATE OF title ON products BEGIN
    INSERT INTO products_fts(docid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER products_au_category AFTER UPDATE OF category_id ON products
WHEN old.category_id <> new.category_id BEGIN
    UPDATE product_counts SET n = n - 1 WHERE scope = 'category-' || old.category_id;
    INSERT INTO product_counts(scope, n) VALUES ('category-' || new.category_id, 1)
        ON CONFLICT(scope) DO UPDATE SET n = n + 1;
END;
