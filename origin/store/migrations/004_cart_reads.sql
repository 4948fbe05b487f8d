-- A cart's lines come from one index range: every column the cart reads
-- is in the index, so a read touches a leaf or two of it instead of a
-- table page per line (a user's lines are added over time, among every
-- other user's). It replaces cart_lines_user, a prefix of it.
CREATE INDEX cart_lines_user_lines ON cart_lines(user_id, id, product_id, quantity, size, color, created_at);
DROP INDEX cart_lines_user;

-- The catalogue's generation: bumped in the transaction of every change to
-- a product as the API renders it (not its stock), so that a process may
-- keep products in memory and know, in the read transaction that uses
-- them, whether they are still what the database holds (store/products.go).
-- A new product needs no bump: ids are never reused (AUTOINCREMENT), so no
-- process holds an older copy of it.
CREATE TABLE catalogue_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO catalogue_generation(id, n) VALUES (1, 0);
CREATE TRIGGER products_generation_update AFTER UPDATE OF id, title, price_cents, description,
    is_featured, clothes_type, rating, category_id, brand_id, colors, sizes, image_urls, created_at
    ON products BEGIN
    UPDATE catalogue_generation SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER products_generation_delete AFTER DELETE ON products BEGIN
    UPDATE catalogue_generation SET n = n + 1 WHERE id = 1;
END;
