-- At most one default address per user, enforced by the database too, not
-- only by the store's transactions (store/cart.go clears the old default
-- before it sets the new one, so no statement ever sees two).
CREATE UNIQUE INDEX addresses_one_default ON addresses(user_id) WHERE is_default = 1;

-- Deleting an address sets orders.address_id to NULL (ON DELETE SET NULL):
-- without this index every address deletion scans all orders.
CREATE INDEX orders_address ON orders(address_id);
