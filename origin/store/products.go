package store

import "sync"

// productCache keeps products the store has read, for one generation of
// the catalogue (the catalogue_generation row, bumped by triggers in the
// transaction of every change to how a product renders). A read
// transaction that reads the generation may use the products kept for it:
// they are what its own snapshot holds. Another process's change shows as
// a new generation in the next read, which drops everything kept.
//
// Why: under the shop mix a write lands every millisecond or so, and
// SQLite then starts each connection's next read with an empty page cache,
// reading every page again from the file. A cart's five products cost
// about a dozen page reads that way (BenchmarkCartReadAfterWrite); kept
// here they cost none.
type productCache struct {
	mu  sync.Mutex
	gen int64
	m   map[int64]*Product
}

// maxCachedProducts bounds the cache (about 1 KiB each); past it, it starts
// over. Carts name a small part of the catalogue.
const maxCachedProducts = 20_000

// get returns the product if it is kept for generation gen.
func (c *productCache) get(gen, id int64) (*Product, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return nil, false
	}
	p, ok := c.m[id]
	return p, ok
}

// put keeps ps, read in a transaction that saw generation gen. A newer
// generation drops what was kept; an older one (a transaction that began
// before a change another one has already seen) keeps nothing.
func (c *productCache) put(gen int64, ps []Product) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen < c.gen {
		return
	}
	if gen > c.gen || c.m == nil || len(c.m)+len(ps) > maxCachedProducts {
		c.gen = gen
		c.m = make(map[int64]*Product, 256)
	}
	for i := range ps {
		p := ps[i]
		c.m[p.ID] = &p
	}
}
