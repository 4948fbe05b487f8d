package cache

// Hooks into the prepared-header table (prepared.go) for the tests of
// package cache_test.

// PreparedBuilds is how many headers the table built.
func PreparedBuilds(c *Cache) int64 { return c.prepared.builds.Load() }

// NarrowPrepared makes every header share the table's first slot.
func NarrowPrepared(c *Cache) { c.prepared.mask = 0 }

// MarkPrepared adds a field to every header the table holds now: a hit
// that carries it was answered from the table.
func MarkPrepared(c *Cache, name, value string) {
	for i := range c.prepared.slots {
		if p := c.prepared.slots[i].Load(); p != nil {
			p.h.Set(name, value)
		}
	}
}
